"""How many requests a second, and how many jobs at once: two separate governors.

``RateGovernor`` drives the pure ``rate_model.RateModel`` with a clock: every request
waits for its turn, and every answer's rate headers (or its 429) go back to the model.
``JobSlots`` caps the jobs pending or in progress, and finds the account's room again
after other clients' jobs have taken some of it.

The pacing is our own virtual-scheduling bucket rather than a limiter library's (aiolimiter,
for one): a published limiter fixes its rate when it is built, while this pace follows the
server's stated limit and AIMD from one answer to the next, catches up on late sends
within what every server model accepts, and hands back a wait rather than sleeping (a
shared budget decides the wait elsewhere). Changing a built limiter's rate would mean
reaching into its private state.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from bulkupdate.api.loop_clock import loop_time, wait_at_most
from bulkupdate.api.rate_model import RateModel
from bulkupdate.api.wire import RateHeaders

PROBE_MIN = 0.1  # seconds: the shortest wait before asking for one more job slot
PROBE_MAX = 60.0  # seconds: the longest, after refusals in a row


class RateGovernor:
    """One pace every request keeps: the server's limit, 429 pauses and AIMD.

    >>> governor = RateGovernor(20)                 # doctest: +SKIP
    >>> sent_at = await governor.acquire()          # before each request
    >>> governor.answered(sent_at, headers)         # after each answer (or .throttled)
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = loop_time) -> None:
        self.model = RateModel(ceiling=rate)
        self._clock = clock
        # A turn taken with no one queued need not yield to the loop first: the request
        # it lets go yields soon enough, waiting for its answer.
        self._queue = anyio.Lock(fast_acquire=True)
        self._priority_waiting = 0
        self._priority_went = anyio.Event()
        self.requests = 0
        # Processes keeping this pace together (a budget shared through Redis counts them).
        self.sharing = 1
        # Told of each 429 with the pause and the new rate (the run's event log).
        self.on_throttle: Callable[[float, float], None] | None = None

    def __repr__(self) -> str:
        m = self.model
        return (
            f"<RateGovernor rate={m.rate:.2f}/s ceiling={m.effective_ceiling:.2f}/s "
            f"requests={self.requests} throttled={m.throttled} unanswered={m.unanswered}>"
        )

    @property
    def share(self) -> float:
        """Requests a second this process can count on: its share of the pace. What a
        job, a poll or a split of the tail is worth is weighed against this."""
        return self.model.rate / max(1, self.sharing)

    async def acquire(self, *, priority: bool = False) -> float:
        """Wait until one more request may go, count it as sent, and return when it went.

        Ordinary requests queue one at a time for their turn; a ``priority`` request (a
        poll, whose answer may free many job slots at once) takes the next turn ahead
        of them, waiting behind none.
        """
        if priority:
            self._priority_waiting += 1
            try:
                return await self._take_turn(priority=True)
            finally:
                self._priority_waiting -= 1
                self._priority_went.set()
                self._priority_went = anyio.Event()
        async with self._queue:
            return await self._take_turn(priority=False)

    async def _take_turn(self, *, priority: bool) -> float:
        # The condition is the clock itself (a turn, a pause or a step of the server's
        # budget comes at a known time, which answers may move), so a timed sleep is the
        # event; the model is asked again after every wake.
        while True:
            wait = self.model.delay(self._clock())
            if wait <= 0 and (priority or not self._priority_waiting):
                break
            if wait > 0:
                await anyio.sleep(wait)
            else:  # the turn is due, and a poll is waiting for it: let the poll go first
                await self._priority_went.wait()
        now = self._clock()
        self.model.sent(now)
        self.requests += 1
        return now

    def went_out(self) -> float:
        """The request let through last is on the wire now: pace the next from now."""
        now = self._clock()
        self.model.went_out(now)
        return now

    def answered(self, sent_at: float, headers: RateHeaders) -> None:
        self.model.answered(self._clock(), sent_at, headers)

    def throttled(self, sent_at: float, headers: RateHeaders) -> float:
        wait = self.model.throttled_at(self._clock(), headers, sent_at)
        if self.on_throttle is not None:
            self.on_throttle(wait, self.model.rate)
        return wait

    def abandoned(self) -> None:
        """A request went without an answer (timeout, reset): stop counting it."""
        self.model.abandoned()


class JobSlots:
    """At most ``capacity`` jobs pending or in progress at once.

    A semaphore whose capacity follows the account's room, as AIMD follows a link's: when
    the API refuses a job because the account already holds its cap (other clients'
    jobs), the capacity drops to the jobs this run holds; after ``probe_interval`` seconds
    (about a job's length: time enough for theirs to end) it goes up by one, and again,
    until a refusal says the room is gone or the configured ceiling is reached. Probes
    refused in a row wait twice as long each time, up to ``PROBE_MAX``.
    """

    def __init__(
        self,
        capacity: int,
        *,
        probe_interval: float = 2.0,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        if capacity < 1:
            raise ValueError("at least one job must be allowed at a time")
        self.ceiling = capacity
        self._capacity = capacity
        self.active = 0  # jobs this run holds: submitting, or not yet seen to end
        self.lent = 0  # of those, jobs whose estimated end has passed (see watcher.py)
        self.waiting = 0
        self.refusals = 0
        self._clock = clock
        self._base_interval = probe_interval
        self._interval = probe_interval
        self._next_probe: float | None = None
        self._probed = False  # the capacity went up by a probe, and no refusal came since
        self._probed_in_vain = False  # a probe met a refusal: the wait is doubled
        self._refused_at = 0.0
        self._changed = anyio.Event()
        self._queue = anyio.Lock(fast_acquire=True)  # only ever taken to wait in it

    def __repr__(self) -> str:
        return (
            f"<JobSlots {self.held}/{self.capacity} of {self.ceiling} lent={self.lent} "
            f"waiting={self.waiting}>"
        )

    @property
    def held(self) -> int:
        """Slots in use: active jobs, less those lent on the strength of their estimate."""
        return self.active - self.lent

    @property
    def capacity(self) -> int:
        """The jobs this run may hold now (probing back up as time allows)."""
        now = self._clock()
        while self._next_probe is not None and now >= self._next_probe:
            self._capacity += 1
            if self._probed:
                self._interval = self._base_interval  # the last probe held: go on steadily
                self._probed_in_vain = False
            self._probed = True
            at_ceiling = self._capacity >= self.ceiling
            self._next_probe = None if at_ceiling else self._next_probe + self._interval
            self._notify()
        return self._capacity

    def set_probe_interval(self, seconds: float) -> None:
        """About how long a job takes: how long to wait before asking for one more slot."""
        self._base_interval = min(PROBE_MAX, max(PROBE_MIN, seconds))
        if self._interval > self._base_interval and not self._probed_in_vain:
            # Nothing has said to wait longer than a job takes: the probe already set up
            # comes as soon as the new length says.
            self._interval = self._base_interval
            if self._next_probe is not None:
                self._next_probe = min(self._next_probe, self._refused_at + self._interval)
                self._notify()  # a waiter set to wake at the later probe looks again

    async def acquire(self) -> None:
        if self.held >= self.capacity:
            self.waiting += 1
            try:
                # One waiter at a time watches for a free slot, the rest queue in order
                # behind it (anyio's lock is fair): a change wakes one task, not every
                # submitter waiting.
                async with self._queue:
                    while self.held >= self.capacity:
                        at_most = None
                        if self._next_probe is not None:
                            at_most = max(0.0, self._next_probe - self._clock())
                        await wait_at_most(self._changed, at_most)
            finally:
                self.waiting -= 1
        self.active += 1

    def take(self) -> None:
        """Hold a slot without waiting: for jobs already running when a run resumes."""
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        # Waiters can go only if a slot is free now. A lent job seen to end (taken
        # back, then released) frees none: its slot went to another job at its estimate.
        if self.held < self.capacity:
            self._notify()

    def lend(self) -> None:
        """A job's estimated end has passed: let another job have its slot."""
        self.lent += 1
        self._notify()

    def reclaim(self) -> None:
        """A lent slot is taken back (its job is still running, or it ended for good)."""
        self.lent -= 1

    def refused(self) -> None:
        """The API refused a job for the account's cap while this run held ``held`` jobs
        (the refused one included): hold one fewer, and probe for more later."""
        self.refusals += 1
        self._capacity = max(1, min(self.capacity, self.held - 1))
        if self._probed:
            self._interval = min(PROBE_MAX, self._interval * 2)  # the probe found no room
            self._probed_in_vain = True
        self._probed = False
        self._refused_at = self._clock()
        self._next_probe = self._refused_at + self._interval
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
