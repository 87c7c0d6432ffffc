"""The per-user secret: where it is made, how, and what a checkpoint signed with
another one gets (another user, another machine: a fresh interpreter with another
``GRAFLOW_NB_SECRET_FILE``)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import ckpt_flows
import pytest

from graflow_nb.core import signing
from graflow_nb.core.snapshot import SnapshotError

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def fresh_runs():
    ckpt_flows.RUNS.clear()
    yield
    ckpt_flows.RUNS.clear()


def _paused(folder: Path) -> Path:
    ckpt_flows.hitl().execute("fetch", session_id="S", checkpoint_dir=folder)
    ckpt_flows.RUNS.clear()
    return folder / "S.pkl"


def test_the_default_secret_is_made_on_first_save_in_the_data_directory_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(signing.ENV_VAR)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    expected = tmp_path / "home" / ".local" / "share" / "graflow_nb" / "secret"
    assert signing.secret_path() == expected
    assert signing.load_secret(create=False) is None and not expected.exists()  # reading makes none

    pkl = _paused(tmp_path / "ck")
    text = expected.read_text()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text.strip())
    assert stat.S_IMODE(expected.stat().st_mode) == 0o600
    assert os.listdir(expected.parent) == ["secret"]  # its temporary file is gone
    meta = json.loads((tmp_path / "ck" / "S.meta.json").read_text())
    assert meta["signature"]["key"] == signing.key_id(bytes.fromhex(text))
    assert ckpt_flows.hitl(fixed=True).resume(pkl, answers={"S_a": True, "S_b": "b", "S_c_c2": "red"})[2] == "c1+red"

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert signing.secret_path() == tmp_path / "xdg" / "graflow_nb" / "secret"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    assert signing.secret_path() == expected


def test_a_user_without_a_secret_is_told_so_and_none_is_made(tmp_path, monkeypatch):
    pkl = _paused(tmp_path)
    monkeypatch.setenv(signing.ENV_VAR, str(tmp_path / "none" / "secret"))
    with pytest.raises(SnapshotError, match=r"it was signed with another secret \(key '[0-9a-f]{16}'; this user has no secret yet"):
        ckpt_flows.hitl(fixed=True).resume(pkl)
    assert not (tmp_path / "none").exists()


def test_processes_making_the_secret_at_once_agree_on_one(tmp_path):
    code = (  # the module alone (it needs only the standard library), so the racers start fast
        "import importlib.util, os, sys, time\n"
        "spec = importlib.util.spec_from_file_location('signing', sys.argv[2])\n"
        "signing = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(signing)\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
        "print(signing.key_id(signing.load_secret(create=True)))\n"
    )
    for round_ in range(5):
        go = tmp_path / f"go{round_}"
        env = {**os.environ, signing.ENV_VAR: str(tmp_path / f"r{round_}" / "secret")}
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(go), signing.__file__], stdout=subprocess.PIPE, text=True, env=env
            )
            for _ in range(4)
        ]
        time.sleep(0.5)  # all four are waiting
        go.touch()
        keys = {racer.communicate(timeout=60)[0].strip() for racer in racers}
        assert len(keys) == 1 and all(racer.returncode == 0 for racer in racers)
        assert os.listdir(tmp_path / f"r{round_}") == ["secret"]


def test_a_damaged_secret_file_is_one_error_naming_it(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("abc\n")
    monkeypatch.setenv(signing.ENV_VAR, str(secret))
    wf = ckpt_flows.hitl()
    wf.execute("fetch", session_id="S")
    with pytest.raises(SnapshotError) as refused:
        wf.last_run.save(tmp_path / "S.pkl")
    assert f"the signing secret {str(secret)!r} cannot be used ({str(secret)!r} is not a graflow_nb secret" in str(
        refused.value
    )
    assert sorted(os.listdir(tmp_path)) == ["secret"]


def _resume_elsewhere(path: Path, secret: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ, signing.ENV_VAR: str(secret),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    args = [sys.executable, str(HERE / "resume_main.py"), "hitl", str(path), json.dumps({"S_a": True}), *extra]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, cwd=HERE)


def test_a_checkpoint_signed_on_one_machine_is_refused_on_another_until_the_secret_is_shared(tmp_path):
    pkl = _paused(tmp_path / "ck")
    other = tmp_path / "other-machine" / "secret"
    refused = _resume_elsewhere(pkl, other)
    assert refused.returncode != 0 and refused.stdout == ""
    assert "nothing resumed: raised UntrustedCheckpointError: checkpoint" in refused.stderr
    assert "it was signed with another secret" in refused.stderr and "copy the secret file" in refused.stderr

    other.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(os.environ[signing.ENV_VAR], other)  # your own two machines: one secret
    done = _resume_elsewhere(pkl, other)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["status"] == "paused" and sorted(report["pending"]) == ["S_b", "S_c_c2"]


def test_where_the_os_has_no_hard_links_the_secret_is_still_made_once_and_kept(tmp_path, monkeypatch):
    """Pyodide has no ``os.link``: the first save there makes the secret, later ones keep it."""
    monkeypatch.delattr(os, "link")
    monkeypatch.setenv(signing.ENV_VAR, str(tmp_path / "data" / "secret"))
    first = signing.load_secret(create=True)
    assert first is not None and len(first) == signing.SECRET_BYTES
    assert signing.load_secret(create=True) == first
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["secret"]  # no temporary file left
