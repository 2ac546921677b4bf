"""One account's job slots, shared fairly by every run that uses them.

The account's room (how many jobs, probing back up after refusals) is one ``JobSlots``
(see ``api/governors.py``); each run sees it through a ``RunSlots``, which counts the jobs that
run holds. Runs waiting for a slot take turns, round-robin: a slot that frees goes to the
next run in the rotation, whichever run has the most submitters waiting, so a ten-number
call started during a million-number run gets its job within about one job's duration.

A run that ends early (cancelled, failed) leaves jobs still running on the server: they
hold their slots until their estimated end, as if lent then, so the budget stays exact.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio

from bulkupdate.api.governors import JobSlots
from bulkupdate.api.loop_clock import loop_time


class RoundRobin:
    """A door one waiter at a time goes through; parties (runs) take turns at it.

    Each party queues its waiters first come, first served; the parties with waiters
    rotate: after one of a party's waiters goes, the party goes to the back.
    """

    def __init__(self) -> None:
        self._queues: dict[object, deque[_Waiter]] = {}
        self._rotation: deque[object] = deque()
        self._inside = False

    def __repr__(self) -> str:
        return f"<RoundRobin waiting={self.waiting} parties={len(self._rotation)}>"

    @property
    def queued(self) -> int:
        """Waiters at the door for their turn."""
        return sum(len(queue) for queue in self._queues.values())

    @property
    def waiting(self) -> int:
        """Waiters at the door, the one going through included."""
        return self.queued + self._inside

    async def go_through(self, party: object, action: Callable[[], Awaitable[None]]) -> None:
        """Wait for ``party``'s turn, then await ``action()`` alone at the door."""
        if self._inside or self._rotation:
            waiter = _Waiter(party, anyio.Event())
            if party not in self._queues:
                self._queues[party] = deque()
                self._rotation.append(party)
            self._queues[party].append(waiter)
            try:
                await waiter.admitted.wait()
            except BaseException:
                if waiter.admitted.is_set():
                    self._pass_on(None)  # admitted as it was cancelled: the next one goes
                else:
                    self._leave(waiter)
                raise
        else:
            self._inside = True
        try:
            await action()
        finally:
            self._pass_on(party)

    def _leave(self, waiter: _Waiter) -> None:
        queue = self._queues[waiter.party]
        queue.remove(waiter)
        if not queue:
            del self._queues[waiter.party]
            self._rotation.remove(waiter.party)

    def _pass_on(self, served: object) -> None:
        """The one inside is done: let in the first waiter of the next party (the party
        just ``served`` goes after the others)."""
        if not self._rotation:
            self._inside = False
            return
        if self._rotation[0] is served and len(self._rotation) > 1:
            self._rotation.rotate(-1)
        party = self._rotation.popleft()
        queue = self._queues[party]
        waiter = queue.popleft()
        if queue:
            self._rotation.append(party)
        else:
            del self._queues[party]
        waiter.admitted.set()  # the door stays taken: it is handed over


@dataclass(slots=True)
class _Waiter:
    party: object
    admitted: anyio.Event


class SharedSlots:
    """The account's job slots (``account``), handed round-robin to the runs using them.

    >>> shared = SharedSlots(JobSlots(20))          # doctest: +SKIP
    >>> slots = shared.for_run()                    # one per run (``run_engine``)
    """

    def __init__(self, account: JobSlots, *, clock: Callable[[], float] = loop_time):
        self.account = account
        self.door = RoundRobin()
        self._clock = clock
        self._orphans: list[float] = []  # when slots of jobs whose run has ended free up
        self._taking: anyio.CancelScope | None = None  # the wait of the run whose turn it is

    def __repr__(self) -> str:
        return f"<SharedSlots {self.account!r} orphans={len(self._orphans)}>"

    def for_run(self) -> RunSlots:
        return RunSlots(self)

    def hold_until(self, ends: Iterable[float]) -> None:
        """Jobs left running by a run that has ended: their slots free at ``ends``."""
        self._orphans.extend(ends)
        self._orphans.sort()
        self.free_orphans()
        if self._taking is not None:
            # The run whose turn it is waits for a slot until the next orphan was due
            # before these came, or for ever: it looks again, with their ends in view.
            self._taking.cancel()

    def free_orphans(self) -> float | None:
        """Free the slots of orphaned jobs now past their end; seconds to the next."""
        now = self._clock()
        while self._orphans and self._orphans[0] <= now:
            self._orphans.pop(0)
            self.account.release()
        return self._orphans[0] - now if self._orphans else None

    async def acquire_for(self, run: RunSlots) -> None:
        """Wait for ``run``'s turn and a free slot; the slot is the account's then."""

        async def take() -> None:
            while True:
                next_orphan = self.free_orphans()
                with anyio.move_on_after(math.inf if next_orphan is None else next_orphan) as wait:
                    self._taking = wait  # cut short by orphans left meanwhile (hold_until)
                    try:
                        await self.account.acquire()
                        return
                    finally:
                        self._taking = None

        await self.door.go_through(run, take)


class RunSlots:
    """The job slots one run holds, out of the account's (``SharedSlots``).

    It answers what the engine asks of ``JobSlots`` for one run: ``active``, ``lent`` and
    ``held`` count this run's jobs; ``capacity`` is what it holds plus what the account
    has free; ``waiting`` counts every run's submitters waiting for a slot, as
    ``JobSlots.waiting`` does: those in line for their turn, and the one whose turn it is
    if no slot is free (a look at the jobs that frees one is worth it whoever waits).
    """

    def __init__(self, shared: SharedSlots) -> None:
        self.shared = shared
        self.account = shared.account
        self.active = 0
        self.lent = 0
        self.refusals = 0

    def __repr__(self) -> str:
        return f"<RunSlots {self.held} held, lent={self.lent} of {self.account!r}>"

    @property
    def held(self) -> int:
        return self.active - self.lent

    @property
    def capacity(self) -> int:
        account = self.account
        return self.held + max(0, account.capacity - account.held)

    @property
    def ceiling(self) -> int:
        return self.account.ceiling

    @property
    def waiting(self) -> int:
        return self.shared.door.queued + self.account.waiting

    async def acquire(self) -> None:
        await self.shared.acquire_for(self)
        self.active += 1

    def take(self) -> None:
        """Hold a slot without waiting: for jobs already running when a run resumes."""
        self.account.take()
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        self.account.release()

    def lend(self) -> None:
        self.lent += 1
        self.account.lend()

    def reclaim(self) -> None:
        self.lent -= 1
        self.account.reclaim()

    def refused(self) -> None:
        self.refusals += 1
        self.account.refused()

    def set_probe_interval(self, seconds: float) -> None:
        self.account.set_probe_interval(seconds)

    def leave(self, running: Iterable[tuple[float, bool]]) -> None:
        """The run has ended with these jobs still running, as ``(due, lent)``: a lent
        slot is free already; the others stay held until their job's estimated end.
        Slots held for no job (none, unless a submitter outlived the run) are freed."""
        ends = []
        for due, lent in running:
            if lent:
                self.reclaim()
                self.release()
            else:
                self.active -= 1
                ends.append(due)
        while self.active > 0:
            self.release()
        self.shared.hold_until(ends)
