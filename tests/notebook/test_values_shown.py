"""The values an analysis is about, as the debugger's channel inspector, the merge
preview, the task inspector and the magic's summary line show them: a DataFrame as a
small table with its shape and dtypes, NumPy numbers in full, a long value folded with
its whole text one click away (issue 29, point 6)."""

from __future__ import annotations

from html import unescape

import numpy as np
import pandas as pd
import pytest

from graflow_nb import task, workflow
from graflow_nb.debug.values import brief, value_html
from graflow_nb.notebook import DebuggerWidget, TaskInspector

pytestmark = pytest.mark.timeout(60)

SCORE = np.float64(0.45283012345678)


def diabetes_like() -> pd.DataFrame:
    frame = pd.DataFrame(np.arange(4420, dtype=float).reshape(442, 10), columns=[f"f{i}" for i in range(10)])
    frame["sex"] = frame["f1"].astype(int) % 2
    return frame.drop(columns="f1")


def models():
    with workflow("models") as wf:
        @task(inject_context=True)
        def load(ctx):
            ctx.get_channel().set("data", diabetes_like())
            return "loaded"

        @task(inject_context=True)
        def forest(ctx):
            ctx.get_channel().set("forest", {"model": "forest", "r2_mean": SCORE})
            return SCORE

        @task(inject_context=True)
        def ridge(ctx):
            ctx.get_channel().set("notes", "ridge " + "fits well " * 40)
            return 0.1

        @task(inject_context=True)
        def compare(ctx, forest, ridge):
            return ctx.get_channel().get("data")

        load >> (forest | ridge) >> compare
    return wf


def test_the_channel_inspector_shows_a_frame_as_a_table_and_numbers_in_full():
    widget = DebuggerWidget(models().debug("load", session_id="M"), pictures=False)
    try:
        widget.step_button.click()  # load
        widget.step_button.click()  # the fork
        widget.rows["M_forest"].continue_button.click()
        widget.rows["M_ridge"].continue_button.click()  # the parent stops at the merge
        shown = unescape(widget.channels.value)
        assert "DataFrame 442 rows x 10 columns" in shown and "(first 5 of 442 rows)" in shown
        assert "dtypes: f0 float64, f2 float64" in shown and "sex int64" in shown
        assert '<table class="dataframe">' in widget.channels.value
        assert "{'model': 'forest', 'r2_mean': 0.45283012345678}" in shown  # the score, whole
        assert "np.float64" not in shown
        # a long value: its start on the line, the whole text folded below
        assert "<details class='graflow-value'>" in widget.channels.value
        assert ("ridge " + "fits well " * 40).strip() in shown
        merge = unescape(widget.merge.value)
        assert "DataFrame 442 rows x 10 columns" in merge and "0.45283012345678" in merge
    finally:
        widget.debugger.close()


def test_the_task_inspector_and_the_summary_line_show_a_frames_shape():
    wf = models()
    wf.execute("load", session_id="M")
    inspector = TaskInspector(wf)
    inspector.picker.value = "compare"
    shown = unescape(inspector.details.value)
    assert "result: <div class='graflow-frame'><code>DataFrame 442 rows x 10 columns</code>" in shown
    assert "forest = <code>0.45283012345678</code>" in shown
    assert brief(wf.last_run.results()["compare"]) == "DataFrame 442x10"
    assert brief(diabetes_like()["f0"]) == "Series 442 float64"


def test_hostile_values_are_shown_bounded_and_never_raise():
    class Loud:
        def __repr__(self):
            raise RuntimeError("no repr for you")

    assert value_html(Loud()) == "<code>&lt;Loud: repr raised RuntimeError&gt;</code>"
    huge = value_html("x" * 1_000_000)
    assert len(huge) < 25_000 and "(1000002 characters)" in huge
    assert brief([np.int64(7), (np.float32(0.5),)]) == "[7, (0.5,)]"
