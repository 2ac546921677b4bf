"""Time for the sandbox: one injectable clock, so tests decide when anything happens.

Everything that changes with time (job progress, rate windows, expiry) is computed from
``clock.now()`` when a request reads it, never from a background task, so a test that owns a
:class:`FakeClock` sees exactly the same job states every run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the Unix epoch that never go backwards, and a way to wait."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time that cannot jump back: the epoch time at start plus monotonic time since.

    A job's timestamps are shown as wall-clock dates while its progress is measured in elapsed
    seconds; anchoring once keeps the two consistent even if the system clock is adjusted.
    """

    __slots__ = ("_mono0", "_wall0")

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return f"SystemClock(now={self.now():.3f})"


class FakeClock:
    """A clock that moves only when told to; ``sleep`` moves it instead of waiting.

    >>> clock = FakeClock(start=1_700_000_000.0)
    >>> clock.advance(1.5)
    >>> clock.now()
    1700000001.5
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now:.3f})"
