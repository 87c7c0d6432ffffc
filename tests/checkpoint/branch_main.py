"""Run one shipped branch session: read a pickled ``BranchSpec`` on stdin, write the
pickled ``BranchOutcome`` to stdout (what a Dask worker does with the same values)."""

from __future__ import annotations

import pickle
import sys

import ckpt_flows

from graflow_nb.core.snapshot import run_branch


def main(flow: str) -> None:
    spec = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(pickle.dumps(run_branch(spec, ckpt_flows.FLOWS[flow]())))


if __name__ == "__main__":
    main(sys.argv[1])
