"""Save checkpoints onto a full tmpfs and report what is left, as JSON.

    unshare --mount [--user --map-root-user] python full_disk_main.py MOUNT_POINT

Run in its own mount namespace, so the tmpfs (1 MiB) goes when the process ends.
Prints {"skip": why} if the tmpfs can't be mounted here.  Two cases:

- "over": a small run saved to x.pkl, then a run of 2 MB saved to the same path;
- "lone": the disk filled so exactly the new .pkl fits, and a first save to y.pkl
  (graflow_nb 0.1.0 renamed the .pkl into place before writing the others, so a
  lone y.pkl stayed).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

from graflow_nb import task, workflow
from graflow_nb.core.checkpoint import CheckpointManager

PAGE = 4096


def paused(name: str, size: int):
    with workflow(f"disk_{name}") as wf:
        @task(inject_context=True)
        def load(ctx):
            ctx.get_channel().set("blob", os.urandom(size))

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go?")

        load >> ask
    wf.execute("load", session_id=name)
    return wf.last_run


def attempt(run, path: pathlib.Path) -> str | None:
    try:
        run.save(path)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def fill(disk: pathlib.Path, leave: int) -> None:
    """Fill ``disk`` up, then give back ``leave`` bytes (whole pages)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while out.write(b"\0" * PAGE):
                pass
        except OSError:
            pass
    with open(filler, "r+b") as out:
        out.truncate(max(0, os.path.getsize(filler) - leave))


def main(disk_name: str) -> None:
    disk = pathlib.Path(disk_name)
    disk.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        print(json.dumps({"skip": f"cannot mount a tmpfs here: {mounted.stderr.strip()}"}))
        return
    report: dict = {}
    small, big = paused("small", 1000), paused("big", 2_000_000)
    report["small_error"] = attempt(small, disk / "x.pkl")
    before = {p.name: p.read_bytes() for p in disk.iterdir()}
    report["over_error"] = attempt(big, disk / "x.pkl")
    report["over_kept"] = {p.name: p.read_bytes() for p in disk.iterdir()} == before
    report["over_files"] = sorted(p.name for p in disk.iterdir())
    report["over_loads"] = CheckpointManager.load_metadata(disk / "x.pkl").session_id

    lone = paused("lone", 200_000)
    with tempfile.TemporaryDirectory() as measure:
        lone.save(pathlib.Path(measure) / "y.pkl")
        size = os.path.getsize(pathlib.Path(measure) / "y.pkl")
        size += len(str(disk / "y.pkl")) - len(str(pathlib.Path(measure) / "y.pkl"))  # the path it records
    fill(disk, -(-size // PAGE) * PAGE)
    report["lone_error"] = attempt(lone, disk / "y.pkl")
    report["lone_files"] = sorted(p.name for p in disk.iterdir())
    report["disk"] = str(disk)
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
