"""A function without source to read (one cloudpickle brought to a Dask worker, or made
by ``exec``) is keyed by its bytecode: that key must be the same in every process, also
for a set literal, whose constant's repr follows the process's string hashes."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from graflow_nb.core.cache.keys import KeyMaker
from graflow_nb.core.task import TaskWrapper
namespace = {}
exec("def pick(x):\\n    return x in {'alpha', 'beta', 'gamma', 'delta', 'epsilon'}, ('k', {'z': 1})\\n", namespace)
print(repr(namespace['pick'].__code__.co_consts))
print(KeyMaker().task_key(TaskWrapper("pick", namespace["pick"], register_to_context=False)).digest.hex())
"""


def digest_with_hash_seed(seed):
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True).stdout
    consts, digest = out.strip().splitlines()
    return consts, digest


def test_a_set_literals_bytecode_key_is_the_same_whatever_the_string_hashes():
    seen = {digest_with_hash_seed(seed) for seed in (1, 2, 3, 4, 5, 6)}
    assert len({consts for consts, _ in seen}) > 1  # the constant's repr did differ between them
    assert len({digest for _, digest in seen}) == 1
