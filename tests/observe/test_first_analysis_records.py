"""What a run record tells a newcomer after an analysis (issue 29, point 7): how long
each branch itself ran (not only fork to merge), and the final channel without
``ret_context=True``."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from graflow_nb import task, workflow

pytestmark = pytest.mark.timeout(60)


def models():
    with workflow("models") as wf:
        @task(inject_context=True)
        def load(ctx):
            ctx.get_channel().set("rows", 442)

        @task(inject_context=True)
        def forest(ctx):
            time.sleep(0.6)
            ctx.get_channel().set("forest", 0.45)

        @task(inject_context=True)
        def ridge(ctx):
            ctx.get_channel().set("ridge", 0.41)

        @task
        def compare():
            return "compared"

        load >> (forest | ridge) >> compare
    return wf


def test_a_branch_session_says_how_long_it_ran_beside_fork_to_merge():
    wf = models()
    wf.execute("load", session_id="S")
    sessions = wf.last_run.frames.sessions().set_index("session_id")
    assert str(sessions["ran"].dtype) == "timedelta64[ns]"
    ridge, forest = sessions.loc["S_ridge"], sessions.loc["S_forest"]
    assert forest["ran"] >= pd.Timedelta(seconds=0.6)
    assert ridge["duration"] >= pd.Timedelta(seconds=0.6)  # it waited at the merge for forest
    assert ridge["ran"] < pd.Timedelta(seconds=0.3)
    assert sessions.loc["S", "ran"] >= forest["ran"]  # the root: load to compare


def test_the_run_record_holds_the_final_channel():
    wf = models()
    assert wf.execute("load", session_id="S") == "compared"
    channel = wf.last_run.channel()
    assert {k: channel[k] for k in ("rows", "forest", "ridge")} == {"rows": 442, "forest": 0.45, "ridge": 0.41}
    assert channel["compare.__result__"] == "compared"


def test_pictures_leave_their_png_out_on_request(monkeypatch):
    from graflow_nb.observe import draw_run

    wf = models()
    wf.execute("load", session_id="S")
    assert set(draw_run(wf)._repr_mimebundle_()) == {"image/svg+xml", "image/png", "text/plain"}
    monkeypatch.setenv("GRAFLOW_NB_PNG", "0")
    bundle = draw_run(wf)._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert bundle["text/plain"].startswith("models: run S succeeded")
