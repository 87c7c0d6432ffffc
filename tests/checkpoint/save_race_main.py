"""One of two processes saving to the same paths at once.

    python save_race_main.py NAME FOLDER ROUNDS

Pauses a run with root session ``NAME`` (its channel holds 200 KB, so a save takes
long enough to overlap), then for each round r meets the other process at a file
barrier (``FOLDER/ready<r>.<name>``) and saves to ``FOLDER/r<r>/x.pkl``.
"""

from __future__ import annotations

import pathlib
import sys
import time

from graflow_nb import task, workflow


def main(name: str, folder: str, rounds: str) -> None:
    base = pathlib.Path(folder)
    with workflow("race") as wf:
        @task(inject_context=True)
        def load(ctx):
            ctx.get_channel().set("blob", name * 200_000)

        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_approval("go?")

        load >> ask
    wf.execute("load", session_id=name)
    run = wf.last_run
    for round_ in range(int(rounds)):
        (base / f"ready{round_}.{name}").touch()
        while len(list(base.glob(f"ready{round_}.*"))) < 2:
            time.sleep(0.0005)
        run.save(base / f"r{round_}" / "x.pkl")


if __name__ == "__main__":
    main(*sys.argv[1:])
