"""``execute(cache="folder")``: entries signed with the user's secret, reused by a
fresh process's store; a file this user didn't write (or one changed since) is never
loaded and replays nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from graflow_nb.core import cache_files, signing

PIPELINE = """
with workflow(NAME) as wf:
    @task
    def load():
        ran.RUNS["load"] += 1
        return list(range(5))

    @task
    def total(load):
        ran.RUNS["total"] += 1
        return sum(load)

    _ = load >> total
"""


@pytest.fixture
def fresh_stores(monkeypatch):
    """As in a new process: the folder is read again."""
    monkeypatch.setattr(cache_files, "_STORES", {})
    return lambda: cache_files._STORES.clear()


def test_a_fresh_store_of_the_folder_replays_what_was_kept(nb, runs, tmp_path, fresh_stores):
    folder = tmp_path / "cache"
    nb.ns["folder"] = folder
    nb(PIPELINE)
    assert nb("wf.execute(session_id='S1', cache=folder)") == 10
    assert len(list(folder.glob("*.entry"))) == 2
    fresh_stores()
    nb(PIPELINE)
    assert nb("wf.execute(session_id='S2', cache=str(folder))") == 10
    assert runs == {"load": 1, "total": 1}
    assert nb("wf.last_run.why('total')") == "cached from run S1"


def test_a_changed_cache_file_is_refused_and_runs_nothing(nb, runs, tmp_path, fresh_stores):
    folder = tmp_path / "cache"
    nb.ns["folder"] = folder
    nb(PIPELINE)
    nb("wf.execute(session_id='S1', cache=folder)")
    for path in folder.glob("*.entry"):
        data = bytearray(path.read_bytes())
        data[-3] ^= 0xFF
        path.write_bytes(bytes(data))
    fresh_stores()
    store = cache_files.disk_store(folder)
    assert [reason for _, reason in store.refused] == ["its entry was changed since it was signed"] * 2
    assert len(store) == 0
    nb("wf.execute(session_id='S2', cache=folder)")
    assert runs == {"load": 2, "total": 2}


def test_a_file_signed_with_another_secret_is_never_unpickled(nb, runs, tmp_path, fresh_stores, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    marker = tmp_path / "pwned"
    # A header signed by someone else, and a pickle that would write a file if loaded.
    script = textwrap.dedent(f"""
        import hashlib, json, os, pickle, sys
        from graflow_nb.core import signing
        class Boom:
            def __reduce__(self):
                return (open, ({str(marker)!r}, "w"))
        body = pickle.dumps(Boom())
        secret = signing.load_secret(create=True)
        header = {{"format": 1, "task_id": "load", "sha256": hashlib.sha256(body).hexdigest()}}
        signed = {{**header, "signature": {{"algorithm": signing.ALGORITHM, "key": signing.key_id(secret),
                                           "value": signing.sign(secret, header)}}}}
        with open(sys.argv[1], "wb") as f:
            f.write(json.dumps(signed).encode() + b"\\n" + body)
    """)
    env = {"GRAFLOW_NB_SECRET_FILE": str(tmp_path / "other-secret"), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = ":".join(sys.path)
    subprocess.run([sys.executable, "-c", script, str(folder / "x.entry")], check=True, env=env)
    signing.load_secret(create=True)  # this user has a secret of their own, which did not sign x.entry
    fresh_stores()
    nb.ns["folder"] = folder
    nb(PIPELINE)
    assert nb("wf.execute(session_id='S1', cache=folder)") == 10
    assert not marker.exists()
    store = cache_files.disk_store(folder)
    assert (folder / "x.entry", "signed with another secret (another user's or another machine's)") in store.refused
    assert runs == {"load": 1, "total": 1}
