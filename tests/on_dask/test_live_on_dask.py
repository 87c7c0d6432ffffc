"""``execute(..., live=True)`` shows remote branches progressing: a frame drawn while a
branch runs on a worker counts it as running, which it can only know from an event
that came back live.  A real IPython shell records every publish."""

from __future__ import annotations

import re
import sys
import threading
import uuid

import pytest
from distributed import Event as DaskEvent
from instruments import WAIT, wait_until
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from graflow_nb import parallel, task, workflow


class Recorder(CapturingDisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
        self.outputs.append({"data": data, "update": update, "thread": threading.current_thread().name})


@pytest.fixture
def shell(monkeypatch, tmp_path):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setattr(InteractiveShell, "_instance", None)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    sh.display_pub = Recorder()
    return sh


def test_the_live_view_draws_remote_branches_while_they_run(shell, client):
    release = f"release-{uuid.uuid4().hex}"
    running = re.compile(r"\d+/5 tasks done, [1-9] running, 0 queued")

    def frames_showing_a_running_branch():
        return [o for o in shell.display_pub.outputs if o["update"] and running.match(o["data"].get("text/plain", ""))]

    def release_once_drawn():
        try:
            wait_until(frames_showing_a_running_branch, "a live frame with a remote branch running")
        finally:
            DaskEvent(release, client=client).set()

    with workflow("remote-live") as wf:
        source = task("source")(lambda: None)
        sink = task("sink")(lambda: None)

        def held():
            return DaskEvent(release).wait(timeout=WAIT)

        group = parallel(*(task(f"t{i}")(held) for i in range(3)))
        group.with_execution(backend="dask", backend_config={"client": client})
        _ = source >> group >> sink
    helper = threading.Thread(target=release_once_drawn)
    helper.start()
    wf.execute("source", session_id="S", live={"interval": 0.1})
    helper.join()
    run = wf.last_run
    assert set(run.results()[f"t{i}"] for i in range(3)) == {True}  # released by what the frame showed
    shown = [o["data"].get("text/plain") for o in shell.display_pub.outputs if o["update"]]
    assert frames_showing_a_running_branch(), shown
    frame = frames_showing_a_running_branch()[0]
    assert frame["thread"] == "graflow-live-S"
    final = shell.display_pub.outputs[-1]["data"]
    assert final["text/plain"].startswith("remote-live: run S succeeded, 5/5 tasks done, 4 sessions")
