"""``graflow-nb resume`` and ``graflow-nb trust`` on checkpoints this user did not sign,
crafted ones and damaged ones: one line on stderr and exit code 2, nothing run; a
checkpoint trusted with ``--trust`` or signed with ``trust`` resumes.  Each command runs
in a fresh interpreter, as a terminal would run it."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import crafted
import pytest

from graflow_nb.core.signing import ENV_VAR

HERE = Path(__file__).parent


def graflow_nb(*argv: str, secret: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    if secret is not None:
        env[ENV_VAR] = str(secret)
    return subprocess.run(
        [sys.executable, "-m", "graflow_nb.cli", *argv], capture_output=True, text=True, env=env, timeout=120, cwd=HERE
    )


@pytest.fixture
def failed_pipeline(tmp_path):
    """A two-step pipeline whose second step fails while ``flag`` exists, run once by
    "another machine" (its own secret): ``(pipeline file, checkpoint, flag)``."""
    flag = tmp_path / "flag"
    flag.touch()
    document = {
        "name": "two_steps",
        "pipeline": [
            {"id": "a", "type": "python", "function": "cli_steps:step", "params": {"flag": str(tmp_path / "never"), "name": "a"}},
            {"id": "b", "type": "python", "function": "cli_steps:step", "params": {"flag": str(flag), "name": "b"}},
        ],
    }
    pipeline = tmp_path / "two.json"
    pipeline.write_text(json.dumps(document))
    ran = graflow_nb(
        "run", str(pipeline), "--session-id", "P", "--checkpoint-dir", str(tmp_path / "ck"), secret=tmp_path / "other" / "secret"
    )
    assert ran.returncode == 1, ran.stderr
    return pipeline, tmp_path / "ck" / "P.pkl", flag


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stdout == "", done.stderr
    assert lines[0].startswith("graflow-nb: ") and "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.slow
def test_a_checkpoint_from_another_secret_is_one_line_until_trusted_then_resumes(failed_pipeline):
    pipeline, pkl, flag = failed_pipeline
    flag.unlink()  # the fix
    line = _one_line(graflow_nb("resume", str(pipeline), str(pkl)))
    assert line.startswith(f"graflow-nb: checkpoint {str(pkl)!r} cannot be loaded: it was signed with another secret")
    assert "--trust" in line

    done = graflow_nb("resume", str(pipeline), str(pkl), "--trust", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "succeeded" and summary["results"]["b"] == "b"
    assert [line.split()[2] for line in done.stderr.splitlines() if line.startswith("[")] == ["b"]  # a did not run again


@pytest.mark.slow
def test_graflow_nb_trust_signs_it_as_yours_and_it_resumes_without_trust(failed_pipeline):
    pipeline, pkl, flag = failed_pipeline
    flag.unlink()
    signed = graflow_nb("trust", str(pkl))
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.startswith(f"{pkl}: signed as yours (checkpoint ")
    done = graflow_nb("resume", str(pipeline), str(pkl), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"


@pytest.mark.slow
def test_a_crafted_checkpoint_is_one_line_and_runs_nothing_on_the_command_line(failed_pipeline, tmp_path):
    pipeline, _pkl, _flag = failed_pipeline
    marker = tmp_path / "marker"
    for layout in sorted(crafted.SETS):
        pkl = crafted.SETS[layout](tmp_path / layout.replace(" ", "_"), marker)
        line = _one_line(graflow_nb("resume", str(pipeline), str(pkl)))
        assert f"checkpoint {str(pkl)!r} cannot be loaded: " in line and "nothing in it was unpickled" in line
        assert not marker.exists()
    line = _one_line(graflow_nb("trust", str(crafted.lone_pickle(tmp_path / "lone", marker))))
    assert line.endswith("cannot be signed: it has no x.meta.json to sign: resume it with trust=True and save it again "
                         "(the files are format 1; this graflow_nb reads format 2)")
    assert not marker.exists()


@pytest.mark.slow
def test_an_older_format_pickle_is_one_line_with_and_without_trust(failed_pipeline):
    """graflow_nb 0.1.0 printed a traceback ending in "has not been run yet" here."""
    pipeline, pkl, flag = failed_pipeline
    flag.unlink()
    old = pickle.loads(pkl.read_bytes())
    del old.state.resumes  # a run state from before resumes were recorded
    pkl.write_bytes(pickle.dumps(old))
    line = _one_line(graflow_nb("resume", str(pipeline), str(pkl)))
    assert "it was signed with another secret" in line and "nothing in it was unpickled" in line
    line = _one_line(graflow_nb("resume", str(pipeline), str(pkl), "--trust"))
    assert line == (
        f"graflow-nb: checkpoint {str(pkl)!r} cannot be loaded: its P.pkl holds a damaged checkpoint: state (a RunState) "
        f"has no field 'resumes' (the files are format 1; this graflow_nb reads format 2)"
    )
