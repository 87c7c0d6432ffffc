"""Resume a checkpoint in this fresh process and print what happened, as JSON.

    python resume_main.py FLOW CHECKPOINT ANSWERS_JSON [CHECKPOINT_DIR]
"""

from __future__ import annotations

import json
import sys

import ckpt_flows


def main(flow: str, path: str, answers: str, checkpoint_dir: str | None = None) -> None:
    wf = ckpt_flows.FLOWS[flow](fixed=True)
    outcome: object
    try:
        outcome = wf.resume(path, answers=json.loads(answers), checkpoint_dir=checkpoint_dir)
    except Exception as error:  # reported, not raised: the test reads the JSON
        outcome = f"raised {type(error).__name__}: {error}"
    run = wf.last_run
    if run is None:
        raise SystemExit(f"nothing resumed: {outcome}")
    mark = run.resumed_at()
    print(json.dumps({
        "runs": ckpt_flows.RUNS,
        "after": [[tr.task_id, tr.session_id, tr.status] for tr in run.task_runs[mark.task_runs:]],
        "status": run.status,
        "outcome": repr(outcome),
        "pending": [p.session_id for p in run.pending_inputs()],
        "sessions": {sid: rec.state for sid, rec in run.sessions.items()},
        "checkpoints": run.checkpoints,
        "tree": run.session_tree(),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
