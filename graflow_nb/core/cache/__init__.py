"""The re-run cache's keys and stores (``execute(..., cache=True)``).

A task is replayed instead of called when its *code key* (``keys``: its id, normalised
source, closure values, the notebook functions and globals it uses, imported modules
by version) and the *tokens* of every channel key it read last time (``fingerprint``:
content by kind, or the token its upstream's value was given) are what they were.
``run_cache.RunCache`` is one run's view of a ``store``: the runtime only calls its
methods (it is handed in on ``run.cache``), so nothing here is imported below.
``shipped``: a run's cache for branches on another process (a Dask worker), both ways;
``journal_replay``: what ``wf.rerun(from_=...)`` runs with after a run without a cache.
"""

from .fingerprint import Unfingerprintable, fingerprint
from .keys import CodeKey
from .run_cache import Decision
from .store import Entry, MemoryStore, memory_store

__all__ = ["CodeKey", "Decision", "Entry", "MemoryStore", "Unfingerprintable", "fingerprint", "memory_store"]
