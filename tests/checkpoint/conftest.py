"""Every checkpoint test starts and ends with an empty ``ckpt_flows.RUNS``: the list
of task starts that says what a resume ran again."""

from __future__ import annotations

import ckpt_flows
import pytest


@pytest.fixture(autouse=True)
def fresh_runs():
    ckpt_flows.RUNS.clear()
    yield
    ckpt_flows.RUNS.clear()
