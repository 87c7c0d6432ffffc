"""A checkpoint's three files are written as one unit: a full disk leaves nothing
behind and the previous set whole; two processes saving to one path at once never
leave files of different saves (graflow_nb 0.1.0 left a lone .pkl on a full disk and
mixed sets in 22 to 32 of 40 rounds)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graflow_nb.core import checkpoint

HERE = Path(__file__).parent
ROUNDS = 40


def _namespace() -> list[str]:
    """``unshare`` for a mount namespace of this test's own (a user namespace too when
    not root), so the tmpfs goes with the process, whatever happens."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here to mount a tmpfs in a namespace of its own")
    command = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    probe = subprocess.run([*command, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here ({' '.join(command)}: {probe.stderr.strip()})")
    return command


@pytest.mark.slow
def test_a_full_disk_names_the_path_leaves_nothing_behind_and_the_previous_set_whole(tmp_path):
    done = subprocess.run(
        [*_namespace(), sys.executable, str(HERE / "full_disk_main.py"), str(tmp_path / "disk")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    if "skip" in report:
        pytest.skip(report["skip"])
    disk = report["disk"]
    assert report["small_error"] is None
    assert report["over_error"] == (
        f"SnapshotError: cannot write checkpoint '{disk}/x.pkl' (writing x.pkl): OSError: No space left on device; "
        f"nothing was written: a checkpoint already there is as it was"
    )
    assert report["over_kept"] and report["over_files"] == ["x.meta.json", "x.pkl", "x.state.json"]
    assert report["over_loads"] == "small"  # the previous set, still signed and whole
    assert report["lone_error"] == (
        f"SnapshotError: cannot write checkpoint '{disk}/y.pkl' (writing y.state.json): OSError: No space left on "
        f"device; nothing was written: a checkpoint already there is as it was"
    )
    assert report["lone_files"] == ["filler", "x.meta.json", "x.pkl", "x.state.json"]  # no lone y.pkl, no temp file


@pytest.mark.slow
def test_two_processes_saving_to_one_path_at_once_never_leave_a_mixed_set(tmp_path):
    racers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "save_race_main.py"), name, str(tmp_path), str(ROUNDS)],
            stderr=subprocess.PIPE, text=True,
        )
        for name in ("A", "B")
    ]
    for racer in racers:
        _out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err
    mixed = []
    for round_ in range(ROUNDS):
        folder = tmp_path / f"r{round_}"
        assert sorted(os.listdir(folder)) == ["x.meta.json", "x.pkl", "x.state.json"]  # no temp or lock file
        pickled = pickle.loads((folder / "x.pkl").read_bytes()).metadata
        meta = json.loads((folder / "x.meta.json").read_text())
        state = json.loads((folder / "x.state.json").read_text())
        if not (pickled.session_id == meta["session_id"] == state["session_id"] and pickled.checkpoint_id == meta["checkpoint_id"]):
            mixed.append(round_)
            continue
        assert checkpoint.load(folder / "x.pkl").metadata.checkpoint_id == meta["checkpoint_id"]  # signed, whole
    assert mixed == [], f"{len(mixed)} of {ROUNDS} rounds left files of different saves"
