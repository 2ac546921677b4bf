"""The event loop's clock, read and waited on as cheaply as can be: the engine's defaults.

``anyio.current_time()`` finds the running async library (through sniffio) on every
call, a few microseconds each; the pacing, the job slots and the watcher read the clock
tens of thousands of times in a run of a million numbers. Under asyncio the answer is
the running loop's ``time()``, so that is read directly; under any other backend (or
with no loop running) it is anyio's. Either way it is the clock anyio's timeouts and
sleeps keep, and it stays injectable: tests pass a fake clock instead.

Likewise a wait for an event with no time limit needs no cancel scope: setting one up
and tearing it down costs more than the wait itself, thousands of times a run.
"""

from __future__ import annotations

import asyncio

import anyio


def loop_time() -> float:
    """What ``anyio.current_time()`` says, read from the asyncio loop when one runs."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another backend (trio), or no loop: ask anyio
        return anyio.current_time()
    return loop.time()


async def wait_at_most(event: anyio.Event, seconds: float | None) -> None:
    """Return when ``event`` is set, or after ``seconds`` (None: whenever it is set)."""
    if seconds is None:
        await event.wait()
        return
    with anyio.move_on_after(seconds):
        await event.wait()
