"""``%graflow resume`` in a real IPython shell: a checkpoint this user did not sign is
a UsageError naming the file and ``--trust``, and runs nothing; ``--trust`` resumes it."""

from __future__ import annotations

import pickle

from IPython.core.error import UsageError

ORDERS = """
from graflow_nb import task, workflow
ran = []
with workflow("orders") as orders:
    @task
    def load():
        ran.append("load")
        return 2
    @task(inject_context=True)
    def approve(ctx, load):
        ran.append("approve")
        return ctx.request_approval(f"ship {load} orders?")
    @task
    def ship(approve):
        ran.append("ship")
        return "shipped" if approve else "held"
    load >> approve >> ship
"""


class MakesMarker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "x"))


def test_a_crafted_checkpoint_is_a_usage_error_and_runs_nothing(cell, tmp_path):
    assert cell(ORDERS).error is None
    marker = tmp_path / "marker"
    crafted = tmp_path / "O.pkl"
    crafted.write_bytes(pickle.dumps(MakesMarker(marker)))
    ran = cell(f"%graflow resume {crafted} --no-render")
    assert isinstance(ran.error, UsageError) and not marker.exists()
    assert f"checkpoint {str(crafted)!r} cannot be loaded: it is not signed" in ran.text
    assert "--trust" in ran.text and "Traceback" not in ran.text


def test_a_checkpoint_from_another_secret_resumes_only_with_trust(ip, cell, tmp_path, monkeypatch):
    assert cell(ORDERS).error is None
    monkeypatch.setenv("GRAFLOW_NB_SECRET_FILE", str(tmp_path / "other" / "secret"))  # another machine saves it
    assert cell(f"%graflow run orders --session-id O --checkpoint-dir {tmp_path} --no-render").error is None
    monkeypatch.undo()
    ip.run_line_magic("reset", "-f")
    assert cell(ORDERS).error is None

    refused = cell(f"%graflow resume {tmp_path / 'O.pkl'} --no-render")
    assert isinstance(refused.error, UsageError) and "it was signed with another secret" in refused.text
    assert ip.user_ns["orders"].last_run is None and ip.user_ns["ran"] == []

    resumed = cell(f"%graflow resume {tmp_path / 'O.pkl'} --trust --no-render")
    assert resumed.error is None, resumed.text
    run = ip.user_ns["orders"].last_run
    assert run.resumed_at() is not None and [p.session_id for p in run.pending_inputs()] == ["O"]
    assert run.resume("O", True) == "shipped"
    assert ip.user_ns["ran"] == ["approve", "ship"]


def test_a_missing_checkpoint_is_a_usage_error_with_trust_too(cell, tmp_path):
    ran = cell(f"%graflow resume {tmp_path / 'none.pkl'} --trust")
    assert isinstance(ran.error, UsageError) and "cannot read checkpoint" in ran.text
