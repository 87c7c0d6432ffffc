"""The engine's rules, "Sessions" (docs/reference/rules.md): without ``session_id=`` a run's root session id is a random hex
id, a new one each run, and branch sessions derive from it."""

from __future__ import annotations

import re

from graflow_nb import task, workflow


def test_without_a_session_id_the_root_is_a_fresh_random_hex_id_and_branches_derive_from_it():
    with workflow("ids") as wf:
        @task
        def a():
            return 1

        @task
        def b():
            return 2

        a | b
    roots = []
    for _ in range(2):
        wf.execute()
        run = wf.last_run
        root = run.root_session_id
        assert re.fullmatch(r"[0-9a-f]{8,}", root), root
        assert sorted(run.sessions) == sorted([root, f"{root}_a", f"{root}_b"])
        roots.append(root)
    assert roots[0] != roots[1]
