"""Tutorial 04 (step-through debugging) where no thread can start, as in JupyterLite:
every code cell runs, widgets included, and prints what it prints with threads."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_step_through_debugging.ipynb"


def printed_by_each_cell() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {}
    printed = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec("".join(cell["source"]), namespace)  # noqa: S102  # the tutorial's own cells
        printed.append(out.getvalue())
    return printed


def test_tutorial_04_prints_the_same_without_threads(monkeypatch):
    with_threads = printed_by_each_cell()
    tried: list[str] = []

    def refuse(self):
        tried.append(self.name)
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    without = printed_by_each_cell()
    assert tried == []
    assert without == with_threads
    assert any(text.startswith("4821: forked 4821_transform_a, 4821_transform_b; now waiting for") for text in without)
