"""How a group node runs: ``coordinator`` (fork a branch session per member, run them
on an executor, apply the policy, merge, close), ``direct`` (graflow's DIRECT backend:
members one after another in the parent's session) and ``ready`` (every task whose
predecessors are done, at once).  Each is handed a ``Driver`` (``base.py``), the
engine that called it, and imports no engine."""
