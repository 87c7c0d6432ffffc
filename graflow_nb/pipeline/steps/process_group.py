"""A command in a process group of its own, so that stopping it stops all of it.

``sleep 40; echo done`` or ``sleep 40 | cat`` under ``/bin/sh`` are several processes;
killing only the shell leaves the others running.  ``start`` puts the command in a new
session (its own process group, no controlling terminal); ``stop_group`` sends the
whole group SIGTERM, then SIGKILL to whatever is left after ``KILL_GRACE_SECONDS``, and
returns once none of its processes is alive.

``run`` waits for the command in short slices, so the thread waiting stays in
Python: a timeout, a cancelled run (``should_stop``) or an interrupt delivered into the
thread (``core.interrupt``) stops the group at once, whatever the command is doing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from ...core.errors import PicklableError

KILL_GRACE_SECONDS = 1.0  # after SIGTERM, how long the group gets before SIGKILL
KILLED_WAIT_SECONDS = 10.0  # after SIGKILL, how long to wait for the kernel to end them
WAIT_SLICE_SECONDS = 0.05
SPAWN_WAIT_SECONDS = 5.0  # interrupted while starting the helper thread: how long it may take to report


class GroupStopped(PicklableError, Exception):
    """The command's group was stopped before it finished (``reason``: timeout or cancelled)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def run(
    argv: list[str], stdin: str | None, timeout: float | None, should_stop: Callable[[], bool], **options: Any
) -> tuple[int, str, str]:
    """Run ``argv`` in a new session and return ``(exit code, stdout, stderr)``.

    The group is stopped on timeout, on ``should_stop()`` and on any exception (an
    interrupt) raised from the moment the child exists.  ``Popen`` runs on a helper
    thread: an interrupt landing inside it, between the fork and ``Popen`` storing the
    child's pid, would leave a child nobody knows; there neither Ctrl-C (main thread
    only) nor an interrupt delivered into the step's thread can reach it."""
    options.update(start_new_session=True, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE)
    spawned = threading.Event()
    box: dict[str, Any] = {}
    helper = threading.Thread(target=_spawn, args=(argv, options, box, spawned), name="graflow-spawn", daemon=True)
    started = False
    try:
        helper.start()
        started = True
        spawned.wait()
        if "error" in box:
            raise box["error"]
        stdout, stderr = _communicate(box["process"], stdin, timeout, should_stop)
    except BaseException:
        spawned.wait(None if started else SPAWN_WAIT_SECONDS)  # then the child, if any, is known
        if "process" in box:
            stop_group(box["process"])
        raise
    return box["process"].returncode, stdout, stderr


def _spawn(argv: list[str], options: dict[str, Any], box: dict[str, Any], spawned: threading.Event) -> None:
    try:
        box["process"] = subprocess.Popen(argv, **options)
    except BaseException as error:
        box["error"] = error
    finally:
        spawned.set()


def _communicate(
    process: subprocess.Popen, stdin: str | None, timeout: float | None, should_stop: Callable[[], bool]
) -> tuple[str, str]:
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = stdin
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
