"""How many requests a second, and how many jobs at once: two separate governors.

``RateModel`` is the pure decision core: it paces at a rate that adapts by AIMD
(additive increase, multiplicative decrease, as TCP does) and follows the server's
fixed window from the ``x-ratelimit-*`` headers, so it holds back *before* a window is
spent instead of learning from 429s. ``RateGovernor`` drives it with a clock and an
aiolimiter leaky bucket. ``JobSlots`` caps the jobs pending or in progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from aiolimiter import AsyncLimiter

from bulkupdate.backoff import BackoffPolicy, compute_backoff
from bulkupdate.wire import RateHeaders

MIN_RATE = 0.2  # requests a second: never stop altogether
DECREASE_FACTOR = 0.5
DECREASE_INTERVAL = 1.0  # seconds: at most one multiplicative decrease in this time
INCREASE_SHARE_PER_SECOND = 0.1  # of the ceiling, after a second without a 429
WINDOW_MARGIN = 0.002  # seconds added to an estimated window end (already an upper bound)
MAX_PAUSE = 120.0


@dataclass(slots=True)
class RateModel:
    """The rate to send at and when sending must wait; every method takes ``now``."""

    ceiling: float  # the configured rate; the rate never climbs above it
    rate: float = 0.0
    paused_until: float = 0.0
    throttled: int = 0
    streak: int = 0  # throttles in a row, each within 5 s of the one before
    last_throttle: float = -math.inf
    last_decrease: float = -math.inf
    last_increase: float = 0.0
    server_rate: float | None = None  # learned from x-ratelimit-limit and the window
    window_end: float | None = None
    window_remaining: int | None = None
    unanswered: int = 0
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(base=0.5, cap=30.0))

    def __post_init__(self) -> None:
        if not self.ceiling > 0:
            raise ValueError("the rate must be above zero")
        self.rate = self.rate or self.ceiling

    @property
    def effective_ceiling(self) -> float:
        if self.server_rate is None:
            return self.ceiling
        return min(self.ceiling, self.server_rate)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next request may go; 0 when it may go now."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.window_end is not None:
            if now >= self.window_end:
                self.window_end = self.window_remaining = None  # the window has reset
            elif self.window_remaining is not None and self.window_remaining - self.unanswered <= 0:
                return self.window_end - now
        return 0.0

    def current_rate(self, now: float) -> float:
        """The pacing rate, after any additive increase due since the last throttle."""
        ceiling = self.effective_ceiling
        if self.rate < ceiling and now - self.last_throttle >= 1.0:
            elapsed = now - max(self.last_increase, self.last_throttle + 1.0)
            if elapsed > 0:
                self.rate = min(ceiling, self.rate + ceiling * INCREASE_SHARE_PER_SECOND * elapsed)
                self.last_increase = now
        elif self.rate > ceiling:
            self.rate = ceiling
        return self.rate

    def sent(self) -> None:
        self.unanswered += 1

    def answered(self, now: float, headers: RateHeaders) -> None:
        """Learn from an answer's rate headers (429s go to ``throttled_at`` as well)."""
        self.unanswered = max(0, self.unanswered - 1)
        limit, remaining, reset = headers.limit, headers.remaining, headers.reset
        if remaining is None or reset is None:
            return
        new_window = (
            self.window_end is None
            or now >= self.window_end
            or (limit is not None and remaining >= limit - 1)
        )
        end = now + reset + WINDOW_MARGIN
        if new_window:
            self.window_end = end
            self.window_remaining = remaining
            if limit is not None and remaining >= limit - 1 and reset > 0:
                # The first request of a window: ``reset`` is the window's length.
                self.server_rate = max(MIN_RATE, limit / math.ceil(reset))
        else:
            assert self.window_end is not None
            self.window_end = min(self.window_end, end)
            current = self.window_remaining
            self.window_remaining = remaining if current is None else min(current, remaining)

    def throttled_at(self, now: float, headers: RateHeaders) -> float:
        """A 429: halve the rate and pause everyone until the window resets.

        The wait is ``Retry-After`` if given, else the reset header, else backoff by the
        number of throttles in a row. Returns the pause in seconds.
        """
        self.throttled += 1
        self.streak = self.streak + 1 if now - self.last_throttle < 5 else 1
        self.last_throttle = now
        # Cut once per window, as TCP does once per round trip: the 429s of requests
        # that were already in flight say nothing new about the rate.
        if now - self.last_decrease >= DECREASE_INTERVAL:
            self.rate = max(MIN_RATE, self.rate * DECREASE_FACTOR)
            self.last_decrease = now
        if headers.retry_after is not None:
            wait = headers.retry_after
        elif headers.reset is not None and headers.reset > 0:
            wait = headers.reset
        else:
            wait = compute_backoff(self.streak, self.backoff)
        wait = min(MAX_PAUSE, wait) + WINDOW_MARGIN
        self.paused_until = max(self.paused_until, now + wait)
        self.window_end = self.window_remaining = None
        return wait


class _AdjustableLimiter(AsyncLimiter):
    """An aiolimiter bucket whose drip rate can change while tasks wait on it.

    aiolimiter fixes the rate at construction; replacing the limiter would hand every
    waiter a fresh, empty bucket (a burst). This adjusts the documented leaky bucket in
    place: settle the level at the old rate, then re-time the next waiter.
    """

    def set_rate(self, rate: float) -> None:
        self._leak()
        self.time_period = self.max_rate / rate
        self._rate_per_sec = rate
        self._wake_next()


class RateGovernor:
    """One limiter every request passes: pacing, window guard and 429 pauses.

    >>> governor = RateGovernor(20)           # doctest: +SKIP
    >>> await governor.acquire()              # before each request
    >>> governor.answered(headers)            # after each answer (or governor.throttled)
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.model = RateModel(ceiling=rate)
        self._clock = clock
        self._limiter = _AdjustableLimiter(burst, burst / rate)
        self._queue = anyio.Lock()
        self._limiter_rate = rate
        self.requests = 0
        # Told of each 429 with the pause and the new rate (the run's event log).
        self.on_throttle: Callable[[float, float], None] | None = None

    def __repr__(self) -> str:
        m = self.model
        return (
            f"<RateGovernor rate={m.rate:.2f}/s ceiling={m.effective_ceiling:.2f}/s "
            f"requests={self.requests} throttled={m.throttled} unanswered={m.unanswered}>"
        )

    async def acquire(self, *, priority: bool = False) -> None:
        """Wait until one more request may go, and count it as sent.

        Ordinary requests queue one at a time for the bucket, so a ``priority`` request
        (a poll, whose answer may free many job slots at once) waits behind at most one
        of them, not behind every submitter.
        """
        if priority:
            await self._acquire()
            return
        async with self._queue:
            await self._acquire()

    async def _acquire(self) -> None:
        await self._sit_out_pauses()
        rate = self.model.current_rate(self._clock())
        if abs(rate - self._limiter_rate) > 1e-9:
            self._limiter.set_rate(rate)
            self._limiter_rate = rate
        await self._limiter.acquire()
        # A pause may have begun while this task waited for the bucket. The drop it got
        # is kept: handing it back would cost a whole interval at the paced rate.
        await self._sit_out_pauses()
        self.model.sent()
        self.requests += 1

    async def _sit_out_pauses(self) -> None:
        # The condition is the clock itself (a pause or a window ends at a known time,
        # and may be extended meanwhile), so a timed sleep is the event.
        while (wait := self.model.delay(self._clock())) > 0:  # noqa: ASYNC110
            await anyio.sleep(wait)

    def answered(self, headers: RateHeaders) -> None:
        self.model.answered(self._clock(), headers)

    def throttled(self, headers: RateHeaders) -> float:
        self.model.unanswered = max(0, self.model.unanswered - 1)
        wait = self.model.throttled_at(self._clock(), headers)
        if self.on_throttle is not None:
            self.on_throttle(wait, self.model.rate)
        return wait

    def abandoned(self) -> None:
        """A request went without an answer (timeout, reset): stop counting it."""
        self.model.unanswered = max(0, self.model.unanswered - 1)


class JobSlots:
    """At most ``capacity`` jobs pending or in progress at once.

    A semaphore whose capacity can only go down: when the API says the account already
    has more active jobs than we thought (other users of the account), the cap drops to
    what we hold and stays there for the run.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("at least one job must be allowed at a time")
        self.capacity = capacity
        self.active = 0
        self.waiting = 0
        self._changed = anyio.Event()

    def __repr__(self) -> str:
        return f"<JobSlots {self.active}/{self.capacity} waiting={self.waiting}>"

    async def acquire(self) -> None:
        if self.active >= self.capacity:
            self.waiting += 1
            try:
                while self.active >= self.capacity:
                    await self._changed.wait()
            finally:
                self.waiting -= 1
        self.active += 1

    def take(self) -> None:
        """Hold a slot without waiting: for jobs already running when a run resumes."""
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        self._notify()

    def lower(self, capacity: int) -> None:
        """Lower the cap (never below one) for the rest of the run."""
        self.capacity = max(1, min(self.capacity, capacity))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
