"""The sequential executor's batch on a run driven from its loop (``loop_driven``):
members one after another on the only thread, each until it ends or parks.

A member whose branch reaches an async task parks (its coroutine goes to the loop) and
the next member starts, so members awaiting I/O overlap; a member parked on a nested
group parks the same way.  When no member can go on and some wait, ``wait`` raises
``AwaitParked`` instead of blocking: the group's parent session parks on the group run
(``loop_driven.GroupAwait``), and the driver steps again once a member's wait ended
(``when_resumable``).  At most ``limit`` members are started and not ended at once
(``max_concurrency``), so that many await at once at most.  A group's ``timeout`` holds:
the run is woken at its deadline, members not started never start, awaiting ones are
cancelled at their ``await`` and end ``cancelled`` (``settle_parked``), and the group
fails with ``GroupTimeoutError``; a sync member runs to its end first.

    position   unstarted -> running -> ended
               unstarted -> skipped                     (the group stopped first)
               running -> awaiting -> resumed -> running  (parked; its wait ended)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from ...errors import AwaitParked
from .base import Batch, Branches

UNSTARTED, RUNNING, ENDED, SKIPPED, AWAITING, RESUMED = "unstarted", "running", "ended", "skipped", "awaiting", "resumed"


class ParkingBatch(Batch):
    parks = True

    def __init__(self, branches: Branches, indices: list[int], limit: int, session_id: str):
        self._branches: Branches | None = branches
        self._indices = indices
        self._positions = {index: position for position, index in enumerate(indices)}
        self._limit = max(1, limit)
        self._session_id = session_id  # the parent's: what parks when no member can go on
        self.states = [UNSTARTED] * len(indices)
        self._next = 0  # the next position to start
        self._active = 0  # started and not ended: running, awaiting or resumed
        self._parked: dict[int, Any] = {}  # awaiting position -> what it waits on
        self._resumed: deque[int] = deque()  # positions whose wait ended, in that order
        self._listeners: list[Callable[[], None]] = []  # called once when a member can go on
        self._stopped = False
        self._timer: asyncio.TimerHandle | None = None  # wakes the run at the group's deadline

    def wait(self, timeout: float | None) -> bool:
        """Run members until every one ended (True), or raise ``AwaitParked`` when none
        can go on now; False once ``timeout`` (what is left of the group's) has passed,
        checked between members: a sync member can't be stopped part-way."""
        deadline = None
        if timeout is not None:
            deadline = time.monotonic() + timeout
            if self._timer is None:  # the run is woken at the deadline, whatever awaits
                self._timer = asyncio.get_running_loop().call_later(max(0.0, timeout), self._notify)
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if self._resumed:
                position = self._resumed.popleft()
            elif not self._stopped and self._next < len(self._indices) and self._active < self._limit:
                position = self._next
                self._next += 1
                self._active += 1
            elif self._parked:
                raise AwaitParked(self._session_id)
            else:
                return True
            self._run(position)

    def _run(self, position: int) -> None:
        """Run the member at ``position`` on this thread until it ends (settled) or parks."""
        self.states[position] = RUNNING
        try:
            assert self._branches is not None, "a batch was run after it was closed"
            self._branches.run_here(self._indices[position])
        finally:
            if self.states[position] == RUNNING:
                self.states[position] = ENDED
                self._active -= 1

    def park(self, index: int, attempt: Any) -> None:
        position = self._positions[index]
        self.states[position] = AWAITING
        self._parked[position] = attempt
        if self._stopped:
            attempt.cancel_asked = True  # the group stopped first: its body never runs
        attempt.start()
        attempt.when_done(partial(self._resume, position))

    def _resume(self, position: int) -> None:
        """The wait of the member at ``position`` ended (on the loop): it goes on at the
        group's next step, and whoever waits for this group is told."""
        if self._parked.pop(position, None) is None:
            return
        self.states[position] = RESUMED
        self._resumed.append(position)
        self._notify()

    def _notify(self) -> None:
        """Tell whoever waits for this group that it may go on (a member can, or its
        time is up)."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener()

    def when_resumable(self, callback: Callable[[], None]) -> None:
        """``callback()`` once a member can go on: now, if one already can."""
        if self._resumed:
            callback()
        else:
            self._listeners.append(callback)

    def stop(self) -> None:
        """Members not started never will; parked ones are cancelled at their ``await``
        and end ``cancelled`` as they go on."""
        self._stopped = True
        self.states = [SKIPPED if state == UNSTARTED else state for state in self.states]
        for waiter in list(self._parked.values()):
            waiter.cancel()

    def settle_parked(self) -> None:
        """After ``stop`` at the group's timeout: run on the members whose cancelled
        await ended (they end ``cancelled``), and park while some still await."""
        while True:
            if self._resumed:
                self._run(self._resumed.popleft())
            elif self._parked:
                raise AwaitParked(self._session_id)
            else:
                return

    def never_started(self) -> list[int]:
        return [p for p, state in enumerate(self.states) if state == SKIPPED]

    def still_running(self) -> list[int]:
        return [p for p, state in enumerate(self.states) if state in (RUNNING, AWAITING, RESUMED)]

    def close(self) -> None:
        self._branches = None
        if self._timer is not None:
            self._timer.cancel()
