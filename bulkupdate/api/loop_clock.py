"""The event loop's clock, read and waited on as cheaply as can be: the engine's defaults.

``anyio.current_time()`` finds the running async library (through sniffio) on every
call, a few microseconds each; the pacing, the job slots and the watcher read the clock
tens of thousands of times in a run of a million numbers. Under asyncio the answer is
the running loop's ``time()``, so that is read directly; under any other backend (or
with no loop running) it is anyio's. Either way it is the clock anyio's timeouts and
sleeps keep, and it stays injectable: tests pass a fake clock instead.

Likewise a wait for an event with no time limit needs no cancel scope: setting one up
and tearing it down costs more than the wait itself, thousands of times a run. And a
task that sleeps until a time it planned (the watcher's) sleeps on an ``Alarm``: woken
only by what brings that time forward, and at its time by the loop's timer.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import anyio


def loop_time() -> float:
    """What ``anyio.current_time()`` says, read from the asyncio loop when one runs."""
    loop = _asyncio_loop()
    if loop is None:  # another backend (trio), or no loop: ask anyio
        return anyio.current_time()
    return loop.time()


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def wait_at_most(event: anyio.Event, seconds: float | None) -> None:
    """Return when ``event`` is set, or after ``seconds`` (None: whenever it is set)."""
    if seconds is None:
        await event.wait()
        return
    with anyio.move_on_after(seconds):
        await event.wait()


class Alarm:
    """A task's sleep until a time it planned, cut short when rung.

    ``ring_before(t)`` wakes the sleeper only if ``t`` comes before the time it planned:
    something that merely adds work for later (a new job, due in a while) costs no wake
    and no new timer. The sleeper plans anew whenever it wakes, from the state then.
    """

    __slots__ = ("_event", "planned")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self.planned = math.inf  # when the sleeper means to wake (inf: only when rung)

    def __repr__(self) -> str:
        return f"<Alarm planned={self.planned}>"

    async def sleep_until(self, when: float | None, clock: Callable[[], float]) -> None:
        """Sleep until ``when`` (by ``clock``; None: until rung), or until rung.

        Under asyncio the loop's timer rings the alarm: the sleep most often ends at its
        time, and a cancel scope that times out costs four times as much (its
        cancellation is thrown into the waiting task and caught again).
        """
        self.planned = math.inf if when is None else when
        if when is None:
            await self._event.wait()
            return
        delay = max(0.0, when - clock())
        loop = _asyncio_loop()
        if loop is None:  # another backend (trio): a cancel scope times the wait
            await wait_at_most(self._event, delay)
            return
        timer = loop.call_later(delay, self.ring)
        try:
            await self._event.wait()
        finally:
            timer.cancel()

    def ring(self) -> None:
        """Wake the sleeper (if it sleeps; else its next sleep is not cut short)."""
        self._event.set()
        self._event = anyio.Event()

    def ring_before(self, when: float | None) -> None:
        """Wake the sleeper if ``when`` comes before the time it planned."""
        if when is not None and when < self.planned:
            self.ring()
