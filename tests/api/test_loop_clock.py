"""The alarm a task sleeps on until a time it planned: rung only when it matters."""

from __future__ import annotations

import asyncio
import contextlib
import math
from unittest import mock

import pytest

from bulkupdate.api import loop_clock
from bulkupdate.api.loop_clock import Alarm
from tests.api.test_governors import frozen_loop_clock, settle_tasks


async def test_an_alarm_wakes_its_sleeper_at_the_planned_time() -> None:
    with frozen_loop_clock() as clock:
        alarm = Alarm()
        sleeper = asyncio.ensure_future(alarm.sleep_until(1.0, clock))
        await settle_tasks()
        assert alarm.planned == 1.0
        await clock.advance_to(0.999)
        assert not sleeper.done()
        await clock.advance_to(1.0)
        assert sleeper.done()


async def test_a_time_after_the_planned_one_does_not_wake_the_sleeper() -> None:
    with frozen_loop_clock() as clock:
        alarm = Alarm()
        sleeper = asyncio.ensure_future(alarm.sleep_until(1.0, clock))
        await settle_tasks()
        alarm.ring_before(1.0)
        alarm.ring_before(5.0)
        alarm.ring_before(None)
        await settle_tasks()
        assert not sleeper.done()
        alarm.ring_before(0.5)
        await settle_tasks()
        assert sleeper.done()


async def test_a_sleeper_with_no_time_planned_wakes_for_any_time_or_a_ring() -> None:
    with frozen_loop_clock() as clock:
        alarm = Alarm()
        sleeper = asyncio.ensure_future(alarm.sleep_until(None, clock))
        await settle_tasks()
        assert alarm.planned == math.inf
        await clock.advance_to(100.0)
        assert not sleeper.done()
        alarm.ring_before(1000.0)
        await settle_tasks()
        assert sleeper.done()
        again = asyncio.ensure_future(alarm.sleep_until(None, clock))
        await settle_tasks()
        alarm.ring()
        await settle_tasks()
        assert again.done()


async def test_a_ring_while_no_one_sleeps_does_not_cut_the_next_sleep_short() -> None:
    with frozen_loop_clock() as clock:
        alarm = Alarm()
        alarm.ring()
        sleeper = asyncio.ensure_future(alarm.sleep_until(1.0, clock))
        await settle_tasks()
        assert not sleeper.done()
        await clock.advance_to(1.0)
        assert sleeper.done()


@pytest.mark.parametrize("asyncio_timer", [True, False], ids=["loop timer", "cancel scope"])
async def test_an_alarm_rung_before_its_time_leaves_no_timer_to_ring_later(
    asyncio_timer: bool,
) -> None:
    """Both ways of timing the sleep (asyncio's timer, or another backend's cancel
    scope) end it when rung, and leave nothing that cuts the next sleep short."""
    with frozen_loop_clock() as clock, contextlib.ExitStack() as patches:
        if not asyncio_timer:
            patches.enter_context(mock.patch.object(loop_clock, "_asyncio_loop", return_value=None))
        alarm = Alarm()
        first = asyncio.ensure_future(alarm.sleep_until(1.0, clock))
        await settle_tasks()
        alarm.ring_before(0.5)
        await settle_tasks()
        assert first.done()
        second = asyncio.ensure_future(alarm.sleep_until(2.0, clock))
        await clock.advance_to(1.5)
        assert not second.done()
        await clock.advance_to(2.0)
        assert second.done()
