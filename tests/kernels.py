"""A real Jupyter kernel (the venv's ``python3`` kernel that ``make test`` installs) for
the tests that read a front end's view off the wire: started in a folder, always shut
down, and restarted into a new process when a test needs one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from jupyter_client.manager import start_new_kernel


@contextlib.contextmanager
def kernel_in(cwd: Any) -> Iterator[tuple[Any, Any]]:
    """``(manager, client)`` of a kernel whose working directory is ``cwd`` (None: this
    process's); the kernel is shut down when the block ends, however it ends."""
    manager, client = start_new_kernel(kernel_name="python3", cwd=None if cwd is None else str(cwd))
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def restart(manager: Any, client: Any) -> None:
    """Replace the kernel's process with a new one (nothing in memory survives) and
    wait until it answers."""
    manager.restart_kernel(now=True)
    client.wait_for_ready(timeout=60)
