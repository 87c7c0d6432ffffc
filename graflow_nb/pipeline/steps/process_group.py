"""A command in a process group of its own, so that stopping it stops all of it.

``sleep 40; echo done`` or ``sleep 40 | cat`` under ``/bin/sh`` are several processes;
killing only the shell leaves the others running.  ``start`` puts the command in a new
session (its own process group, no controlling terminal); ``stop_group`` sends the
whole group SIGTERM, then SIGKILL to whatever is left after ``KILL_GRACE_SECONDS``, and
returns once none of its processes is alive.

``communicate`` waits for the command in short slices, so the thread waiting stays in
Python: a timeout, a cancelled run (``should_stop``) or an interrupt delivered into the
thread (``core.interrupt``) stops the group at once, whatever the command is doing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

KILL_GRACE_SECONDS = 1.0  # after SIGTERM, how long the group gets before SIGKILL
KILLED_WAIT_SECONDS = 10.0  # after SIGKILL, how long to wait for the kernel to end them
WAIT_SLICE_SECONDS = 0.05


class GroupStopped(Exception):
    """The command's group was stopped before it finished (``reason``: timeout or cancelled)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def start(argv: list[str], **options: Any) -> subprocess.Popen:
    return subprocess.Popen(argv, start_new_session=True, **options)


def communicate(
    process: subprocess.Popen, stdin: str | None, timeout: float | None, should_stop: Callable[[], bool]
) -> tuple[str, str]:
    """``process.communicate(stdin)``, stopping the group on timeout, on ``should_stop()``
    and on any exception (an interrupt) raised while waiting."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = stdin
    try:
        while True:
            wait = WAIT_SLICE_SECONDS if deadline is None else max(0.0, min(WAIT_SLICE_SECONDS, deadline - time.monotonic()))
            try:
                return process.communicate(pending, timeout=wait)
            except subprocess.TimeoutExpired:
                pending = None  # sent with the first call; the next ones only read
            if deadline is not None and time.monotonic() >= deadline:
                raise GroupStopped("timeout")
            if should_stop():
                raise GroupStopped("cancelled")
    except BaseException:
        stop_group(process)
        raise


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the command's process group, SIGKILL after the grace period; returns
    when no process of the group is alive (zombies don't count: they run nothing)."""
    pgid = process.pid
    if not _signal(pgid, signal.SIGTERM):
        process.wait()
        return
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while group_alive(pgid, process) and time.monotonic() < deadline:
        time.sleep(0.01)
    if group_alive(pgid, process):
        _signal(pgid, signal.SIGKILL)
        deadline = time.monotonic() + KILLED_WAIT_SECONDS  # only a process stuck in the kernel outlasts this
        while group_alive(pgid, process) and time.monotonic() < deadline:
            time.sleep(0.01)
    process.wait()
    for stream in (process.stdout, process.stderr, process.stdin):
        if stream is not None:
            stream.close()


def group_alive(pgid: int, process: subprocess.Popen | None = None) -> bool:
    """True while some process of group ``pgid`` is alive and not a zombie."""
    if process is not None:
        process.poll()  # reap the leader, our own child
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """Pids of the group's live (non-zombie) processes; from /proc where there is one."""
    if not os.path.isdir("/proc/self"):
        return [pgid] if _signal(pgid, 0) else []
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _signal(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a member changed its user: it exists
    return True
