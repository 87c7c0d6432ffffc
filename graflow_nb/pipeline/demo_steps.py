"""Small, dependency-free steps for the example pipelines in ``examples/``.

They model a toy ETL job (extract orders, compute figures in parallel, enrich each
order, report) so the examples run anywhere the package is installed.  Each sleeps a
little, as I/O would, so a render of a run shows the branches overlapping.
"""

from __future__ import annotations

import time
from typing import Any

_REGIONS = ("eu", "us", "apac")


def extract_orders(count: int = 6, region: str = "all", delay: float = 0.01) -> dict[str, Any]:
    """``count`` synthetic orders, optionally only one region's."""
    time.sleep(delay)
    orders = [
        {"id": i + 1, "region": _REGIONS[i % len(_REGIONS)], "amount": round(10.0 + 7.5 * i, 2)} for i in range(count)
    ]
    if region != "all":
        orders = [o for o in orders if o["region"] == region]
    return {"orders": orders, "source": f"demo:{region}", "count": len(orders)}


def order_totals(orders: list[dict[str, Any]], delay: float = 0.01) -> dict[str, Any]:
    time.sleep(delay)
    amounts = [o["amount"] for o in orders]
    return {"total": round(sum(amounts), 2), "largest": max(amounts, default=0.0), "orders": len(amounts)}


def totals_by_region(orders: list[dict[str, Any]], delay: float = 0.01) -> dict[str, float]:
    time.sleep(delay)
    out: dict[str, float] = {}
    for order in orders:
        out[order["region"]] = round(out.get(order["region"], 0.0) + order["amount"], 2)
    return out


def enrich_order(order: dict[str, Any], rate: float = 0.2, delay: float = 0.01) -> dict[str, Any]:
    """One order with its tax added (a stand-in for a per-item API call)."""
    time.sleep(delay)
    return {**order, "tax": round(order["amount"] * rate, 2)}


def clean_orders(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if o["amount"] > 0]


def sample_orders(orders: list[dict[str, Any]], size: int = 2) -> list[int]:
    return [o["id"] for o in orders[:size]]


def build_report(
    totals: dict[str, Any], regions: dict[str, float], enriched: list[Any] | None = None, sample: Any = None
) -> dict[str, Any]:
    """Everything the branches produced, in one dict."""
    report: dict[str, Any] = {"total": totals["total"], "orders": totals["orders"], "regions": regions}
    if enriched is not None:
        report["tax"] = round(sum(entry["result"]["tax"] for entry in enriched), 2)
    if sample is not None:
        report["sample"] = sample
    return report
