"""Request-rate limit per API key: a fixed window that opens with the first request.

Fixed window, not a sliding log or token bucket: a window opens with the first request after
the previous one closed and admits ``limit`` requests; every request counts, refused ones
too, so a client that hammers through 429s gains nothing. ``reset_after`` is the whole number
of seconds until the window closes, rounded up, as ``x-ratelimit-reset`` reports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_PRUNE_AT = 1024  # keys kept before closed windows are forgotten


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_after),
        }


class FixedWindowLimiter:
    """``limit`` requests per ``window`` seconds for each key.

    >>> limiter = FixedWindowLimiter(limit=2, window=1.0)
    >>> [limiter.hit("k", now).allowed for now in (0.0, 0.1, 0.2, 1.0)]
    [True, True, False, True]
    """

    __slots__ = ("_windows", "limit", "peak", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.peak = 0  # most requests seen in any one window, refused ones included
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float) -> Verdict:
        """Count one request and say whether it is allowed."""
        start, count = self._current(key, now)
        count += 1
        self._windows[key] = (start, count)
        self.peak = max(self.peak, count)
        if len(self._windows) > _PRUNE_AT:
            self._prune(now)
        return self._verdict(start, count, now, allowed=count <= self.limit)

    def peek(self, key: str, now: float) -> Verdict:
        """The state of ``key``'s window without counting a request."""
        start, count = self._current(key, now)
        return self._verdict(start, count, now, allowed=count < self.limit)

    def reset(self) -> None:
        self._windows.clear()
        self.peak = 0

    def _current(self, key: str, now: float) -> tuple[float, int]:
        window = self._windows.get(key)
        if window is None or now >= window[0] + self.window:
            return now, 0
        return window

    def _verdict(self, start: float, count: int, now: float, *, allowed: bool) -> Verdict:
        reset_after = max(1, math.ceil(start + self.window - now - 1e-9))
        return Verdict(allowed, self.limit, max(0, self.limit - count), reset_after)

    def _prune(self, now: float) -> None:
        for key in [k for k, (start, _) in self._windows.items() if now >= start + self.window]:
            del self._windows[key]

    def __repr__(self) -> str:
        return f"FixedWindowLimiter(limit={self.limit}/{self.window}s, keys={len(self._windows)})"
