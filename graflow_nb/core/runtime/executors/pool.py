"""Threads for branches, without the nested-group deadlock.

The classic deadlock: a bounded pool, a branch (holding a worker) forks a nested group
and waits, and every worker ends up waiting for children that can't get a thread.
Here the thread that forks a group never just waits: ``ForkJoin.run`` claims members of
its *own* group that no worker has started yet and runs them itself, and it sleeps only
while every member it waits for is already running on some thread.  A waiting thread
therefore waits only on threads that are making progress, at any nesting depth, with a
pool of any size (tested: depth 5 on 2 workers).

A member moves   unreleased -> released -> running -> done
                 unreleased/released -> skipped          (the group stopped first)
                 running -> awaiting -> resumed -> running  (parked on an async task)
"awaiting" holds no thread: the member's coroutine runs on the run's event loop, and
when it ends the member is "resumed" (handed to the pool, and to the forking thread,
like a released one; ``stop`` never skips it: it has started).
"released" means handed to the pool; at most ``limit`` members of a group are released
or running at once, which is how ``thread_count`` / ``max_concurrency`` are enforced.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..interruptible import wait_slice

UNRELEASED, RELEASED, RUNNING, DONE, SKIPPED, AWAITING, RESUMED = range(7)
RESUME_JOB = -1  # a ForkJoin's pool job that runs its resumed members on (not a member)


KEEPALIVE_SECONDS = 5.0


class _ParkedThreads:
    """Worker threads between runs.

    Starting a thread costs about 100 us here, more than a trivial branch, so when a
    run ends its workers park for ``KEEPALIVE_SECONDS`` and the next run's pool adopts
    them instead of starting new ones (dask's threaded scheduler keeps a process-wide
    pool for the same reason).  A parked thread serves one pool at a time, so a run's
    thread cap still holds.  A pool's idle workers wait on seats too, and a pool that
    shuts down hands its idle seats over here without waking a single thread: with 256
    idle workers, waking each just so it could park again cost the end of every run
    about a millisecond and a half.
    """

    def __init__(self) -> None:
        self._seats: list[_Seat] = []
        # Guards _seats (the parked threads, most recently parked last).  Taken after a
        # pool's lock when both are held (WorkerPool.shutdown, _Seat.wait).
        self._lock = threading.Lock()

    def adopt(self, pool: WorkerPool) -> bool:
        with self._lock:
            if not self._seats:
                return False
            seat = self._seats.pop()
        seat.pool = pool
        seat.wake.release()
        return True

    def count(self) -> int:
        return len(self._seats)

    def take(self, seats: list[_Seat]) -> None:
        """Seats of a pool that shut down: their threads wait on, parked (caller holds
        that pool's lock)."""
        with self._lock:
            for seat in seats:
                seat.pool = None
            self._seats.extend(seats)

    def seat(self) -> _Seat:
        """A parked seat for the calling thread to wait on (``_Seat.wait``)."""
        seat = _Seat(None)
        with self._lock:
            self._seats.append(seat)
        return seat

    def withdraw(self, seat: _Seat) -> bool:
        """Remove a parked ``seat`` whose wait timed out; False if someone took it."""
        with self._lock:
            if seat in self._seats:
                self._seats.remove(seat)
                return True
            return False


class _Seat:
    """One waiting thread.  Each waits on a lock of its own, so handing a thread to a
    pool wakes exactly that thread, with no shared lock for 256 threads to queue on.

    ``pool`` is the pool the thread serves once woken: while it idles in a pool, that
    pool; while parked, None until a pool adopts it."""

    __slots__ = ("pool", "wake")

    def __init__(self, pool: WorkerPool | None) -> None:
        self.pool = pool
        self.wake = threading.Lock()
        self.wake.acquire()  # released by whoever hands the thread work

    def wait(self) -> WorkerPool | None:
        """The pool to serve next, or None: parked for ``KEEPALIVE_SECONDS`` unwanted."""
        while not self.wake.acquire(timeout=KEEPALIVE_SECONDS):
            home = self.pool
            if home is not None:
                with home._lock:  # the pool's lock first, as shutdown takes them
                    still_idle = self in home._idle_seats
                    withdrawn = not still_idle and _PARKED.withdraw(self)
                # Not kept in this frame through the next wait: that pool may shut down
                # meanwhile, and a waiting thread's frame is no place for its run to live on.
                home = None
                if still_idle:
                    continue  # idle in a pool that still runs: it may want this thread yet
                if withdrawn:
                    return None  # moved to the parked seats as the pool shut down
            elif _PARKED.withdraw(self):
                return None
            self.wake.acquire()  # taken just as the wait timed out: the pool is on its way
            break
        return self.pool


_PARKED = _ParkedThreads()


def _worker_main(first: list[WorkerPool]) -> None:
    """Serve pools until no pool wants this thread.  It waits (idle in a pool, or parked)
    here, holding only its seat: a pool that shuts down meanwhile, with whatever its
    leftover job entries reach (sessions, results: the whole run), must not live on in a
    waiting thread's frame.  The first pool comes in a list this thread empties, for the
    same reason: a Thread keeps its arguments until it ends, and a worker outlives the
    pool that started it."""
    thread = threading.current_thread()
    pool: WorkerPool | None = first.pop()
    ended = False
    while pool is not None:
        name = f"{pool.name}-worker"
        if thread.name != name:
            thread.name = name
        seat, ended = pool.work(ended)
        served = weakref.ref(pool)
        pool = None
        pool = seat.wait()
        if pool is not served():
            ended = False  # a new pool's work starts afresh, as a new thread's does


STALL_SECONDS = 0.00025
RELAY_WINDOW = 16  # parked threads the monitor wakes at once (see WorkerPool._pass_relay)


class _StallMonitor:
    """One process-wide thread that adds workers to pools whose queued jobs are stuck.

    It sleeps until some pool has queued jobs, then looks every ``STALL_SECONDS``.
    """

    def __init__(self) -> None:
        self._pools: set[WorkerPool] = set()
        self._thread: threading.Thread | None = None
        # Guards _pools and _thread; the monitor waits on it while no pool has jobs.
        self._cond = threading.Condition(threading.Lock())

    def watch(self, pool: WorkerPool) -> None:
        with self._cond:
            self._pools.add(pool)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="graflow-monitor", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            self._look()
            time.sleep(STALL_SECONDS)

    def _look(self) -> None:
        """Wait until some pool is watched, then look at each once.  A call of its own so
        that its list of pools ends with it: kept in the loop's frame, that list held the
        last run's pool (its jobs, their sessions, the whole run) until the next run."""
        with self._cond:
            while not self._pools:
                self._cond.wait()
            pools = list(self._pools)
        for pool in pools:
            pool.check_stall()

    def forget(self, pool: WorkerPool) -> None:
        """Stop looking at ``pool`` (caller holds its lock, so no submit can slip in
        between its last look and this: that submit's ``watch`` would be lost)."""
        with self._cond:
            self._pools.discard(pool)


_MONITOR = _StallMonitor()


def _progress(fork: Any) -> int:
    """How many times ``fork`` started or ended a member; a job that counts none (any
    object with ``run_released``) counts as stuck from the second look on.

    A count, not a time: a clock read at every member start and end was most of what
    noting progress cost the forking thread, and the monitor only asks whether
    anything happened between two of its looks."""
    progress: int = getattr(fork, "progress", 0)
    return progress


PARKING_PATIENCE_SECONDS = 0.1


def _patience(fork: Any) -> float:
    """How long ``fork`` may make no progress before it counts as stuck: at once, but a
    fork whose members all park on async tasks (``ForkJoin.parking``) only after
    ``PARKING_PATIENCE_SECONDS``, and then it gets one more thread per stall, not one
    per waiting member.  Its members give their thread back within microseconds, so a
    look without progress there is the event loop holding the GIL (or the machine
    not running this process) for a moment, not members blocking: threads added for
    them would only queue for the GIL (10,000 async members would get the run's whole
    ``max_workers``).  A sync task chained after an async member in its branch gets
    threads at that pace too."""
    return PARKING_PATIENCE_SECONDS if getattr(fork, "parking", False) else 0.0


def _unreported(fork: Any) -> int:
    """Claims of ``fork``'s jobs its forking thread made and has not reported yet."""
    owed: int = getattr(fork, "unreported", 0)
    return owed


class WorkerPool:
    """Worker threads for one run, up to ``max_workers`` at once.

    How many threads a group needs depends on what its tasks do: sleeping or waiting
    on I/O, one thread per member; pure Python, one thread is as fast as many (the
    GIL) and extra threads only add switching.  So no thread starts when a job is
    submitted (the forking thread runs its own members meanwhile, see ForkJoin); a
    monitor, as Go's runtime does for blocked goroutines, looks every
    ``STALL_SECONDS`` while jobs are queued.  A fork (a group's ``ForkJoin``, or a
    ready-scheduler job) whose waiting jobs saw none of its members start or end
    between two looks is stuck: whatever its running members do (block on I/O, wait
    for a sibling, or compute in pure Python holding the GIL), nobody is coming for
    the rest.  The monitor then counts in a thread for each of that fork's waiting
    jobs, up to ``max_workers``: members of one group tend to be alike, so the first
    member that blocked says the others will too.  It starts the new ones and wakes
    a few parked ones, which wake the rest in a relay as they take jobs (see
    ``_pass_relay``).  A fan-out of 256 sleeping members gets 256 threads within
    milliseconds; a fan-out of trivial members is
    drained by the forking thread alone, since it starts or ends one every few
    microseconds.  Progress is judged per fork, not per pool: members of a nested
    group finishing on the forking thread say nothing about the outer group's
    members still waiting behind it.
    """

    def __init__(self, max_workers: int, name: str = "graflow"):
        self.max_workers = max_workers
        self.name = name
        self._jobs: deque[tuple[Any, int]] = deque()
        # Jobs submitted and not yet claimed by anyone, in total and per fork.  Not
        # len(_jobs): the forking thread claims jobs itself, leaving stale entries that
        # workers later discard, and those must not look like work waiting for a thread.
        self._unclaimed = 0
        self._waiting: dict[Any, int] = {}
        self._threads = 0
        self._starting = 0
        # Of _starting (and _threads), the parked threads nobody has woken yet (see
        # _pass_relay).
        self._relay = 0
        self._idle_seats: list[_Seat] = []  # workers waiting for a job, most recent last
        self._watched = False
        self._shutdown = False
        self.peak_threads = 0
        # Each waiting fork's progress count at the monitor's previous look, and when a
        # parking fork's count last changed (see _patience).
        self._seen: dict[Any, int] = {}
        self._since: dict[Any, float] = {}
        # Guards _jobs, _unclaimed, _waiting, _threads, _starting, _idle_seats, _watched,
        # _shutdown.  Never held while taking a ForkJoin's lock.
        self._lock = threading.Lock()

    def submit(self, fork: Any, index: int) -> None:
        self.submit_many(fork, (index,))

    def submit_many(self, fork: Any, indices: Iterable[int]) -> None:
        """Queue ``fork.run_released(i)`` for each index, under one lock acquisition.

        ``fork`` calls ``claimed(fork)`` for each job it takes or drops, and may keep a
        ``progress`` count (of its member starts and ends) for the stall monitor (see
        ``_progress``)."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("submit to a pool that was shut down")
            before = len(self._jobs)
            self._jobs.extend((fork, index) for index in indices)
            added = len(self._jobs) - before
            self._unclaimed += added
            self._count_waiting(fork, added)
            idle = self._idle_seats
            woken = [idle.pop() for _ in range(min(added, len(idle)))]
            self._starting += len(woken)  # on their way to a job, so the monitor adds none for it
            watch = not self._watched
            self._watched = True
        for seat in woken:
            seat.wake.release()
        if watch:
            _MONITOR.watch(self)

    def check_stall(self) -> None:
        """Start threads for stuck forks' waiting jobs; leave the monitor once there is
        nothing to watch.

        However long ago the previous look was: a member holding the GIL in pure Python
        keeps this thread from looking for a whole switch interval, and that is exactly
        when its queued siblings need a thread of their own.
        """
        with self._lock:
            if not self._unclaimed or self._shutdown:
                self._watched = False
                self._seen = {}
                self._since = {}
                _MONITOR.forget(self)
                return
            previous, self._seen = self._seen, {fork: _progress(fork) for fork in self._waiting}
            stuck = owed = 0
            for fork, count in self._waiting.items():
                fork_owed = _unreported(fork)
                owed += fork_owed
                stalled = count - fork_owed > 0 and previous.get(fork) == self._seen[fork]
                if self._patient(fork, stalled):
                    # A parking fork's stall is one member blocking at most: one thread.
                    stuck += 1 if _patience(fork) else count - fork_owed
            if not stuck or self._starting:
                return
            start = self._reserve(stuck, owed)
            fresh = max(0, start - _PARKED.count())
            woken = min(start - fresh, RELAY_WINDOW)
            self._relay = start - fresh - woken
            self._note_peak()
        for _ in range(woken):
            self._start_one()
        # New threads start here, not in the relay (starting one blocks its starter
        # until it runs), and all of them, even once the forking thread or members that
        # ended took the jobs: they idle, then park for the next run.
        for started in range(fresh):
            if self._shutdown:  # the run is over: the rest are not wanted
                with self._lock:
                    self._threads -= fresh - started
                    self._starting -= fresh - started
                return
            self._new_thread()

    def _patient(self, fork: Any, stalled: bool) -> bool:
        """Whether ``fork``, stalled at this look or not, has stalled for its patience
        (caller holds _lock)."""
        patience = _patience(fork)
        if not patience:
            return stalled
        now = time.monotonic()
        if not stalled:
            self._since[fork] = now
            return False
        since = self._since.setdefault(fork, now)
        return now - since >= patience

    def _reserve(self, wanted: int, owed: int) -> int:
        """Count in up to ``wanted`` new threads for the shortfall, the ``owed`` claims
        forking threads have not reported yet not counted (caller holds _lock)."""
        shortfall = self._unclaimed - owed - len(self._idle_seats) - self._starting
        count = max(0, min(wanted, shortfall, self.max_workers - self._threads))
        self._threads += count
        self._starting += count
        return count

    def _note_peak(self) -> None:
        """``peak_threads``: threads serving this pool, the relay's yet to come not counted
        (caller holds _lock)."""
        self.peak_threads = max(self.peak_threads, self._threads - self._relay)

    def _start_one(self) -> None:
        """Wake a parked thread for this pool, or start a new one (see _pass_relay)."""
        if not _PARKED.adopt(self):
            self._new_thread()

    def _new_thread(self) -> None:
        threading.Thread(target=_worker_main, args=([self],), name=f"{self.name}-worker", daemon=True).start()

    def work(self, ended: bool = False) -> tuple[_Seat, bool]:
        """Serve this pool until it has no job for this thread; then the seat to wait on
        (idle in this pool, or parked once it is shut down) and whether the last thing
        this thread did was end a member (see ``_pass_relay``)."""
        starting = True
        fork: Any = None
        while True:
            seat = None
            relay = 0
            with self._lock:
                if starting:
                    self._starting -= 1
                    starting = False
                done = not self._jobs and self._shutdown
                if done:
                    self._threads -= 1
                elif self._jobs:
                    fork, index = self._jobs.popleft()
                    for _ in range(2 if ended else 1):
                        if self._relay and self._pass_relay():
                            relay += 1
                else:
                    self._end_relay()
                    seat = _Seat(self)
                    self._idle_seats.append(seat)
            for _ in range(relay):
                self._start_one()
            if done:
                return _PARKED.seat(), ended
            if seat is not None:
                return seat, ended  # woken by a submit, this pool's work() again starts it
            ended = True
            try:
                fork.run_released(index)
            except BaseException:
                # Jobs report their own errors; one escaping anyway ends this thread,
                # which must not go on counting against max_workers.
                with self._lock:
                    self._threads -= 1
                raise

    def _pass_relay(self) -> bool:
        """Whether the thread that just took a job wakes one more parked thread first
        (caller holds _lock).

        The monitor wakes at most ``RELAY_WINDOW`` of the parked threads it counts in
        for a stuck fork; the other ``_relay`` join in a relay, each woken by a thread
        as it takes a job (a thread that just ended a member wakes two), for as long as
        the jobs beyond the one taken outnumber the threads on their way to one.  Woken
        all at once, 255 threads all queue for the GIL; the ones still queued after a
        switch interval (5 ms) each demand it, forcing hand-offs in the middle of other
        members' Python, and a fan-out of 256 sleeping members took twice as long to
        start as the members' own Python costs.  A few threads always awake and queued
        keeps every hand-off to one that is ready, none waiting long enough to demand
        the GIL.  Members that end while others still wait take them and wake more, so
        the relay outruns the ends of a fan-out too wide to start within one member."""
        if self._unclaimed - 1 <= self._starting - self._relay:
            self._end_relay()  # enough threads on their way
            return False
        self._relay -= 1
        self._note_peak()
        return True

    def _end_relay(self) -> None:
        """The parked threads of the relay still to come are not needed (caller holds
        _lock)."""
        self._threads -= self._relay
        self._starting -= self._relay
        self._relay = 0

    def claimed(self, fork: Any, count: int = 1) -> None:
        """``count`` of ``fork``'s submitted jobs were taken (or dropped) by someone: no
        thread needed for them."""
        with self._lock:
            self._unclaimed -= count
            self._count_waiting(fork, -count)

    def caller_claimed(self, fork: ForkJoin) -> None:
        """Report the claims ``fork``'s forking thread made without telling the pool
        (``fork.unreported``; see ``ForkJoin._help``)."""
        with self._lock:
            count, fork.unreported = fork.unreported, 0
            self._unclaimed -= count
            self._count_waiting(fork, -count)

    def _count_waiting(self, fork: Any, delta: int) -> None:
        """Add ``delta`` to ``fork``'s waiting jobs (caller holds _lock).  A count may dip
        below zero for a moment: a member released as another ends can be claimed by
        the forking thread before the releasing thread submits it."""
        left = self._waiting.get(fork, 0) + delta
        if left:
            self._waiting[fork] = left
        else:
            del self._waiting[fork]

    def shutdown(self) -> None:
        """Idle workers park (without waking up); running ones finish their job first."""
        with self._lock:
            self._shutdown = True
            self._end_relay()
            # What is left queued is stale (claimed by the thread that forked it) or
            # skipped: the run is over, so nothing will want it, and each entry reaches
            # that run (its sessions, results, context copies) for as long as anything
            # still holds this pool.
            self._jobs.clear()
            self._waiting.clear()
            self._seen = {}
            self._since = {}
            seats, self._idle_seats = self._idle_seats, []
            self._threads -= len(seats)
            _PARKED.take(seats)


class ForkJoin:
    """The members of one group run: release, help, wait, in that order."""

    def __init__(self, pool: WorkerPool | None, jobs: Sequence[Callable[[], None]], limit: int):
        self._pool = pool
        self._jobs = jobs
        self._limit = max(1, limit)
        self.states = [UNRELEASED] * len(jobs)
        self._unreleased = deque(range(len(jobs)))
        self._released: deque[int] = deque()
        self._resumed: deque[int] = deque()  # parked members whose async attempt ended
        self._caller_idle = False  # the forking thread waits in _help for a member to end
        self._drainer_queued = False  # a RESUME_JOB is queued and no worker took it yet
        self._resumed_claim = False  # the forking thread's last claim was a resumed member
        self.parking = False  # every member is an async task: the stall monitor is patient (see _patience)
        self._parked: dict[int, Any] = {}  # awaiting member -> its AsyncAttempt
        self._active = 0  # released, running, awaiting or resumed
        self._finished = 0
        self._stopped = False
        self.start_order: list[int] = []
        # Member starts and ends so far (the stall monitor reads it, see _progress).
        self.progress = 0
        # Members the forking thread claimed without telling the pool yet (see _help).
        # Written only by the forking thread (reset by the pool's caller_claimed, which
        # that thread calls), read by the stall monitor.
        self.unreported = 0
        # Guards every field above but ``unreported``.  Held through the bare lock (a Condition's own
        # ``with`` costs two more Python calls per member); the forking thread waits on
        # ``_cond`` for members to end.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def run(self, timeout: float | None = None) -> bool:
        """Run every member (or skip the rest after ``stop``); True when all ended.

        With a ``timeout`` the forking thread only waits (a member it ran itself could
        not be abandoned) and returns False if members are still running at the end.
        """
        self._submit(self._release_ready())
        if timeout is None:
            self._help()
            return True
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                while True:
                    if self._finished == len(self._jobs):
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    if self._pool is None:
                        index = self._claim_for_caller()
                        if index is not None:
                            break
                    self._cond.wait(wait_slice(remaining))
            self._execute(index)

    @property
    def pools(self) -> bool:
        """Whether its members run on a pool (which can run a parked member on)."""
        return self._pool is not None

    def park(self, index: int, attempt: Any) -> None:
        """Member ``index``, running on this thread, stopped on an async ``attempt``: its
        job returns without ending it, and runs again once the attempt ended.  The
        attempt starts as the job returns (``_end_locked``), so the member never runs
        on one thread while its last job still unwinds on another."""
        with self._lock:
            self.states[index] = AWAITING
            self._parked[index] = attempt
            if self._stopped:
                attempt.cancel_asked = True  # the group stopped first: its body never runs
        attempt.when_done(lambda: self._resume(index))

    def _resume(self, index: int) -> None:
        """The attempt member ``index`` awaited ended (on the loop's thread, or on the
        thread that parked it): hand the member to the pool and the forking thread."""
        with self._lock:
            self._parked.pop(index, None)
            self.states[index] = RESUMED
            self._resumed.append(index)
            self._cond.notify_all()
            # The forking thread waits for its members: it runs this one on.  Else
            # one queued job (``RESUME_JOB``) drains every resumed member: 10,000
            # coroutines ending at once queue one job, not 10,000 for the stall
            # monitor to count threads in for.
            submit = not self._caller_idle and not self._drainer_queued and self._pool is not None
            if submit:
                self._drainer_queued = True
        if submit:
            assert self._pool is not None
            self._pool.submit(self, RESUME_JOB)

    def _drain_resumed(self) -> None:
        """A worker's ``RESUME_JOB``: run resumed members on until none is left."""
        with self._lock:
            self._drainer_queued = False
        assert self._pool is not None
        self._pool.claimed(self)
        while True:
            with self._lock:
                index = -1
                resumed = self._resumed
                while resumed:
                    candidate = resumed.popleft()
                    if self.states[candidate] == RESUMED:
                        self.states[candidate] = RUNNING
                        self.progress += 1
                        index = candidate
                        break
            if index < 0:
                return
            self._execute(index)

    def settle_parked(self, grace: float) -> None:
        """After ``stop``: cancel the parked members' attempts and wait, at most
        ``grace`` seconds, until none is awaiting or waiting to run on."""
        with self._lock:
            parked = list(self._parked.values())
        for attempt in parked:
            attempt.cancel()
        deadline = time.monotonic() + grace
        with self._lock:
            while any(state == AWAITING or state == RESUMED for state in self.states):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, 0.01))

    def stop(self) -> None:
        """No member that has not started will start (cooperative cancellation); the
        attempts of parked members are cancelled at their ``await``."""
        dropped = 0
        with self._lock:
            self._stopped = True
            while self._unreleased:
                self.states[self._unreleased.popleft()] = SKIPPED
                self._finished += 1
            while self._released:
                index = self._released.popleft()
                if self.states[index] == RELEASED:
                    self.states[index] = SKIPPED
                    self._active -= 1
                    self._finished += 1
                    dropped += 1
            self._cond.notify_all()
            parked = list(self._parked.values())
        if dropped and self._pool is not None:
            self._pool.claimed(self, dropped)
        for attempt in parked:
            attempt.cancel()

    # -- internals (callers hold no lock unless noted) ---------------------------------
    def _help(self) -> None:
        """The forking thread: run members nobody has started, one after another, and
        sleep only while every member left is running elsewhere.

        One acquisition of ``_lock`` per member: ending one and claiming the next happen
        under the same hold (a member ended here wakes no one: only this thread waits
        on the fork).  And none of the pool's lock while the pool has no thread at all:
        then nobody but this thread can take a job, so its claims only matter to the
        stall monitor, which reads them from ``unreported``; from the pool's first
        thread on, each claim is reported as it is made, keeping the counts the workers'
        relay reads exact."""
        try:
            self._help_loop()
        finally:
            if self.unreported:
                assert self._pool is not None  # only claims from a pool's jobs are owed
                self._pool.caller_claimed(self)

    def _help_loop(self) -> None:
        lock, cond, jobs, pool = self._lock, self._cond, self._jobs, self._pool
        total = len(jobs)
        index = -1  # the member this thread just ran, or -1
        while True:
            with lock:
                more = self._end_locked(index) if index >= 0 else None
                index = -1
                while self._finished != total:
                    index = self._claim_for_caller()
                    if index >= 0:
                        break
                    self._caller_idle = True
                    try:
                        cond.wait(wait_slice(None))
                    finally:  # a Ctrl-C here: resumed members must go to the pool now
                        self._caller_idle = False
            if more:
                self._submit(more)  # before the claim is reported: the pool counts it against these
            if index < 0:
                return
            if pool is not None and not self._resumed_claim:  # a resumed member has no job of its own
                self.unreported += 1
                if pool._threads:  # read without its lock: a thread just counted in reports the next
                    pool.caller_claimed(self)
            try:
                jobs[index]()
            except BaseException:
                self._end(index)
                raise

    def _release_ready(self) -> list[int]:
        """Move members from unreleased to released while under the limit (takes _lock)."""
        with self._lock:
            return self._release_locked()

    def _release_locked(self) -> list[int]:
        out = []
        while self._unreleased and self._active < self._limit and not self._stopped:
            index = self._unreleased.popleft()
            self.states[index] = RELEASED
            self._released.append(index)
            self._active += 1
            out.append(index)
        return out

    def _submit(self, indices: list[int]) -> None:
        if self._pool is not None and indices:
            self._pool.submit_many(self, indices)

    def _claim_for_caller(self) -> int:
        """Take the oldest released member nobody runs yet, or -1 (caller holds _lock);
        a parked member whose attempt ended goes first: it holds a slot already."""
        states = self.states
        resumed = self._resumed
        while resumed:
            index = resumed.popleft()
            if states[index] == RESUMED:
                states[index] = RUNNING
                self.progress += 1
                self._resumed_claim = True
                return index
        self._resumed_claim = False
        released = self._released
        while released:
            index = released.popleft()
            if states[index] == RELEASED:
                states[index] = RUNNING
                self.start_order.append(index)
                self.progress += 1
                return index
        return -1

    def run_released(self, index: int) -> None:
        """A pool worker's entry: run the member unless the caller or stop() got it."""
        if index == RESUME_JOB:
            self._drain_resumed()
            return
        with self._lock:
            state = self.states[index]
            if state != RELEASED and state != RESUMED:
                return
            self.states[index] = RUNNING
            if state == RELEASED:
                self.start_order.append(index)
            self.progress += 1
        assert self._pool is not None  # only a pool's worker calls this
        self._pool.claimed(self)
        self._execute(index)

    def _execute(self, index: int) -> None:
        """Run member ``index`` off the forking thread's own loop (a worker, or a wait
        with a timeout and no pool), then end it."""
        try:
            self._jobs[index]()
        finally:
            self._end(index)

    def _end(self, index: int) -> None:
        with self._lock:
            more = self._end_locked(index)
            # The forking thread waits for the last member or for one it can claim.
            if more or self._finished == len(self._jobs):
                self._cond.notify_all()
        self._submit(more)

    def _end_locked(self, index: int) -> list[int]:
        """Member ``index`` ended: the members that may start now (caller holds _lock).
        A member that parked has not ended: its job only let go of its thread."""
        if self.states[index] == AWAITING:
            self._parked[index].start()  # on the loop: nothing of it runs on this thread
            self.progress += 1
            return []
        self.states[index] = DONE
        self._active -= 1
        self._finished += 1
        self.progress += 1
        return self._release_locked() if self._unreleased else []
