"""Request-rate limits per API key, in each way a server may plausibly keep them.

Telnyx documents only the headers (``x-ratelimit-limit``, ``-remaining``, ``-reset``) and
the 429 with code 10011; the algorithm, the window and its alignment are not documented. A
client must keep to all of these, so the sandbox serves each as a switch:

* ``fixed``: fixed windows aligned to the server's clock (``[k·W, (k+1)·W)``), ``limit``
  requests each;
* ``sliding``: a sliding log: a request is admitted while fewer than ``limit`` requests
  fall in the last ``W`` seconds;
* ``token-bucket``: GCRA (the generic cell rate algorithm, a token bucket kept as one
  "theoretical arrival time"): ``limit / W`` tokens a second, up to ``burst`` at once.

In every model ``remaining`` is what may still be sent now, and ``reset`` is the whole
seconds (rounded up) until the limit has fully recovered: 0 when nothing is spent.
``Retry-After`` on a 429 is the whole seconds until one more request would be admitted. By
default refused requests are charged like admitted ones (a client hammering through 429s
gains nothing); ``count_refused=False`` is the kinder reading.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

_PRUNE_AT = 1024  # keys kept before idle ones are forgotten
# Seconds since the epoch as floats are exact to about 0.24 µs: differences of them are
# compared within a microsecond, or a bucket's first request may look like its second.
_EPSILON = 1e-6


class RateModel(StrEnum):
    FIXED = "fixed"
    SLIDING = "sliding"
    TOKEN_BUCKET = "token-bucket"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # whole seconds until the limit has fully recovered
    retry_after: int  # whole seconds until one more request would be admitted

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_after),
        }


class Limiter(Protocol):
    """What the HTTP front needs of a limiter; ``limit`` may change while it runs."""

    limit: int

    def hit(self, key: str, now: float) -> Verdict: ...

    def peek(self, key: str, now: float) -> Verdict: ...

    def reset(self) -> None: ...


def _whole(seconds: float) -> int:
    return max(0, math.ceil(seconds - _EPSILON))


class FixedWindowLimiter:
    """``limit`` requests in each window ``[k·window, (k+1)·window)`` of the server's clock.

    >>> limiter = FixedWindowLimiter(limit=2, window=1.0)
    >>> [limiter.hit("k", now).allowed for now in (10.5, 10.6, 10.7, 11.0)]
    [True, True, False, True]
    """

    __slots__ = ("_windows", "count_refused", "limit", "window")

    def __init__(self, limit: int, window: float, *, count_refused: bool = True) -> None:
        self.limit = limit
        self.window = window
        self.count_refused = count_refused
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float) -> Verdict:
        start, count = self._current(key, now)
        allowed = count < self.limit
        if allowed or self.count_refused:
            count += 1
            self._windows[key] = (start, count)
            if len(self._windows) > _PRUNE_AT:
                self._prune(now)
        return self._verdict(start, count, now, allowed=allowed)

    def peek(self, key: str, now: float) -> Verdict:
        start, count = self._current(key, now)
        return self._verdict(start, count, now, allowed=count < self.limit)

    def reset(self) -> None:
        self._windows.clear()

    def _current(self, key: str, now: float) -> tuple[float, int]:
        start = math.floor(now / self.window + _EPSILON) * self.window
        window = self._windows.get(key)
        if window is None or window[0] != start:
            return start, 0
        return window

    def _verdict(self, start: float, count: int, now: float, *, allowed: bool) -> Verdict:
        to_end = _whole(start + self.window - now)
        reset = to_end if count else 0
        return Verdict(allowed, self.limit, max(0, self.limit - count), reset, to_end)

    def _prune(self, now: float) -> None:
        start = math.floor(now / self.window + _EPSILON) * self.window
        for key in [k for k, (began, _) in self._windows.items() if began != start]:
            del self._windows[key]

    def __repr__(self) -> str:
        return f"FixedWindowLimiter(limit={self.limit}/{self.window}s, keys={len(self._windows)})"


class SlidingLogLimiter:
    """At most ``limit`` requests in any ``window`` seconds: a log of each key's requests.

    >>> limiter = SlidingLogLimiter(limit=2, window=1.0)
    >>> [limiter.hit("k", now).allowed for now in (10.5, 10.6, 11.0, 11.65)]
    [True, True, False, True]
    """

    __slots__ = ("_logs", "count_refused", "limit", "window")

    def __init__(self, limit: int, window: float, *, count_refused: bool = True) -> None:
        self.limit = limit
        self.window = window
        self.count_refused = count_refused
        self._logs: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> Verdict:
        log = self._log(key, now)
        allowed = len(log) < self.limit
        if allowed or self.count_refused:
            log.append(now)
            if len(self._logs) > _PRUNE_AT:
                self._prune(now)
        return self._verdict(log, now, allowed=allowed)

    def peek(self, key: str, now: float) -> Verdict:
        log = self._logs.get(key)
        if log is None:
            return self._verdict(deque(), now, allowed=True)
        self._age(log, now)
        return self._verdict(log, now, allowed=len(log) < self.limit)

    def reset(self) -> None:
        self._logs.clear()

    def _log(self, key: str, now: float) -> deque[float]:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = deque()
        self._age(log, now)
        return log

    def _age(self, log: deque[float], now: float) -> None:
        while log and log[0] <= now - self.window + _EPSILON:
            log.popleft()

    def _verdict(self, log: deque[float], now: float, *, allowed: bool) -> Verdict:
        reset = _whole(log[-1] + self.window - now) if log else 0
        over = len(log) - self.limit  # this many must age out before one more is admitted
        retry = _whole(log[over] + self.window - now) if over >= 0 else 0
        return Verdict(allowed, self.limit, max(0, self.limit - len(log)), reset, retry)

    def _prune(self, now: float) -> None:
        for key in [k for k, log in self._logs.items() if not log or log[-1] <= now - self.window]:
            del self._logs[key]

    def __repr__(self) -> str:
        return f"SlidingLogLimiter(limit={self.limit}/{self.window}s, keys={len(self._logs)})"


class TokenBucketLimiter:
    """GCRA: ``limit / window`` requests a second, with up to ``burst`` at once.

    Each key keeps a theoretical arrival time (TAT): a request at ``now`` is admitted if
    ``TAT − now`` is within the burst tolerance, and moves the TAT one emission interval on.

    >>> limiter = TokenBucketLimiter(limit=2, window=1.0, burst=2)
    >>> [limiter.hit("k", now).allowed for now in (10.0, 10.0, 10.0, 11.0)]
    [True, True, False, True]
    """

    __slots__ = ("_tats", "burst", "count_refused", "limit", "window")

    def __init__(
        self, limit: int, window: float, *, burst: int | None = None, count_refused: bool = True
    ) -> None:
        self.limit = limit
        self.window = window
        self.burst = burst
        self.count_refused = count_refused
        self._tats: dict[str, float] = {}

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.limit

    @property
    def interval(self) -> float:
        return self.window / self.limit

    def hit(self, key: str, now: float) -> Verdict:
        tat = max(self._tats.get(key, now), now)
        tolerance = (self.capacity - 1) * self.interval
        allowed = tat - now <= tolerance + _EPSILON
        if allowed or self.count_refused:
            tat += self.interval
            self._tats[key] = tat
            if len(self._tats) > _PRUNE_AT:
                self._prune(now)
        return self._verdict(tat, now, allowed=allowed)

    def peek(self, key: str, now: float) -> Verdict:
        tat = max(self._tats.get(key, now), now)
        tolerance = (self.capacity - 1) * self.interval
        return self._verdict(tat, now, allowed=tat - now <= tolerance + _EPSILON)

    def reset(self) -> None:
        self._tats.clear()

    def _verdict(self, tat: float, now: float, *, allowed: bool) -> Verdict:
        interval, capacity = self.interval, self.capacity
        spent = (tat - now) / interval  # tokens short of a full bucket
        remaining = max(0, math.floor(capacity - spent + _EPSILON / interval))
        retry = _whole(tat - (capacity - 1) * interval - now)
        return Verdict(allowed, capacity, remaining, _whole(tat - now), retry)

    def _prune(self, now: float) -> None:
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]

    def __repr__(self) -> str:
        return (
            f"TokenBucketLimiter(rate={self.limit}/{self.window}s, burst={self.capacity}, "
            f"keys={len(self._tats)})"
        )


def make_limiter(
    model: RateModel,
    limit: int,
    window: float,
    *,
    burst: int | None = None,
    count_refused: bool = True,
) -> Limiter:
    """The limiter for ``model``: ``limit`` requests per ``window`` seconds."""
    if model is RateModel.SLIDING:
        return SlidingLogLimiter(limit, window, count_refused=count_refused)
    if model is RateModel.TOKEN_BUCKET:
        return TokenBucketLimiter(limit, window, burst=burst, count_refused=count_refused)
    return FixedWindowLimiter(limit, window, count_refused=count_refused)


class BusiestSecond:
    """The most requests seen in any one-second span, whatever the model: the same yardstick
    for every server, so a test can hold a client to "the limit plus its burst"."""

    __slots__ = ("_recent", "peak")

    def __init__(self) -> None:
        self._recent: deque[float] = deque()
        self.peak = 0

    def record(self, now: float) -> None:
        recent = self._recent
        recent.append(now)
        while recent[0] <= now - 1.0 + _EPSILON:
            recent.popleft()
        self.peak = max(self.peak, len(recent))

    def reset(self) -> None:
        self._recent.clear()
        self.peak = 0
