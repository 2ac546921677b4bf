"""The governors on a frozen loop clock: the request pace every request keeps, and the job
slots, with their lending and their probing back up after the account's cap refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest

from bulkupdate.api.governors import PROBE_MAX, PROBE_MIN, JobSlots, RateGovernor
from bulkupdate.api.rate_model import TIGHT_MARGIN
from bulkupdate.api.wire import RateHeaders

NONE = RateHeaders(None, None, None, None)
PLENTY = RateHeaders(limit=1000, remaining=999, reset=1.0, retry_after=None)
PACE = 0.1 * (1 + TIGHT_MARGIN)  # at 10 a second while the budget is unknown


class FrozenClock:
    """The running loop's clock, frozen: time moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def advance_to(self, when: float) -> None:
        """Move time to ``when`` and let every task and timer due by then run."""
        self.now = when
        for _ in range(20):
            await asyncio.sleep(0)


@contextmanager
def frozen_loop_clock() -> Iterator[FrozenClock]:
    clock = FrozenClock()
    with mock.patch.object(asyncio.get_running_loop(), "time", clock):
        yield clock


async def settle_tasks() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


# -- the rate governor --------------------------------------------------------------------


async def test_the_governor_spaces_requests_at_its_rate() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        governor.model.catch_up = False  # (running ahead of the pace: test_ratemodel)
        assert await governor.acquire() == 0.0
        second = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(PACE - 0.001)
        assert not second.done()
        await clock.advance_to(PACE)
        assert second.result() == PACE
        assert governor.requests == 2
        assert governor.model.unanswered == 2


async def test_a_poll_takes_the_next_turn_ahead_of_queued_requests() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        await governor.acquire()
        queued = [asyncio.ensure_future(governor.acquire()) for _ in range(3)]
        await settle_tasks()
        poll = asyncio.ensure_future(governor.acquire(priority=True))
        await clock.advance_to(PACE)
        assert poll.done()
        assert not any(task.done() for task in queued)
        await clock.advance_to(2 * PACE)
        assert sum(task.done() for task in queued) == 1  # then the queue, in order
        assert queued[0].done()
        for task in queued:
            task.cancel()
        await settle_tasks()


async def test_a_cancelled_poll_does_not_hold_up_the_queue() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        await governor.acquire()
        queued = asyncio.ensure_future(governor.acquire())
        poll = asyncio.ensure_future(governor.acquire(priority=True))
        await settle_tasks()
        poll.cancel()
        await clock.advance_to(PACE)
        assert queued.done()


async def test_a_request_that_left_late_moves_the_next_turn() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        governor.model.catch_up = False
        await governor.acquire()
        await clock.advance_to(0.05)
        assert governor.went_out() == 0.05  # the loop was busy: it left only now
        nxt = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(PACE)
        assert not nxt.done()
        await clock.advance_to(0.05 + PACE)
        assert nxt.done()


async def test_after_a_429_everyone_waits_for_the_pause() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        told = []
        governor.on_throttle = lambda wait, rate: told.append((wait, rate))
        sent_at = await governor.acquire()
        governor.model.rate = 4.0  # well below the configured rate: the 429 cuts it
        wait = governor.throttled(sent_at, RateHeaders(None, None, None, retry_after=0.5))
        assert (wait, told) == (0.5, [(0.5, 2.0)])
        assert governor.model.unanswered == 0
        second = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(0.49)
        assert not second.done()
        await clock.advance_to(0.5 * (1 + TIGHT_MARGIN))  # at 2 a second since the pause
        assert second.done()
        assert "throttled=1" in repr(governor)


async def test_answers_teach_the_governor_the_servers_rate() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(100.0, clock=clock)
        governor.model.catch_up = False
        sent_at = await governor.acquire()
        governor.answered(sent_at, RateHeaders(limit=5, remaining=4, reset=1.0, retry_after=None))
        assert governor.model.effective_ceiling == 5.0
        nxt = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(0.19)
        assert not nxt.done()
        await clock.advance_to(0.2)
        assert nxt.done()


async def test_an_abandoned_request_stops_counting_as_unanswered() -> None:
    with frozen_loop_clock():
        governor = RateGovernor(100.0)
        await governor.acquire()
        assert governor.model.unanswered == 1
        governor.abandoned()
        governor.abandoned()
        assert governor.model.unanswered == 0


# -- job slots ------------------------------------------------------------------------------


def test_at_least_one_job_slot_is_needed() -> None:
    with pytest.raises(ValueError, match="at least one"):
        JobSlots(0)


async def test_slots_admit_up_to_capacity_then_make_the_rest_wait() -> None:
    slots = JobSlots(2)
    await slots.acquire()
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await settle_tasks()
    assert not waiter.done()
    assert (slots.active, slots.waiting) == (2, 1)
    assert repr(slots) == "<JobSlots 2/2 of 2 lent=0 waiting=1>"
    slots.release()
    await settle_tasks()
    assert waiter.done()
    assert (slots.active, slots.waiting) == (2, 0)


async def test_one_release_lets_exactly_one_waiter_in() -> None:
    slots = JobSlots(1)
    await slots.acquire()
    waiters = [asyncio.ensure_future(slots.acquire()) for _ in range(3)]
    await settle_tasks()
    assert slots.waiting == 3
    for expected in (1, 2, 3):
        slots.release()
        await settle_tasks()
        assert sum(w.done() for w in waiters) == expected
        assert slots.active == 1
    assert slots.waiting == 0


async def test_a_lent_slot_lets_a_waiter_in_before_its_job_is_seen_to_end() -> None:
    slots = JobSlots(1)
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await settle_tasks()
    slots.lend()  # the job's estimated end has passed
    await settle_tasks()
    assert waiter.done()
    assert (slots.active, slots.lent, slots.held) == (2, 1, 1)
    another = asyncio.ensure_future(slots.acquire())
    await settle_tasks()
    changed = slots._changed
    slots.reclaim()  # it had ended: its slot goes for good
    slots.release()
    assert (slots.active, slots.lent, slots.held) == (1, 0, 1)
    assert slots._changed is changed  # no slot freed: the waiter is not woken for nothing
    slots.release()
    await settle_tasks()
    assert another.done()


async def test_a_cancelled_waiter_stops_counting_as_waiting() -> None:
    slots = JobSlots(1)
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await settle_tasks()
    assert slots.waiting == 1
    waiter.cancel()
    await settle_tasks()
    assert waiter.cancelled()
    assert (slots.active, slots.waiting) == (1, 0)
    slots.release()
    assert slots.active == 0  # the cancelled waiter took no slot


async def test_a_cap_refusal_lowers_the_capacity_to_what_the_run_holds() -> None:
    with frozen_loop_clock():
        slots = JobSlots(5)
        for _ in range(4):
            await slots.acquire()
        slots.refused()  # the fourth was refused: the account holds others' jobs
        assert slots.capacity == 3
        assert slots.refusals == 1


async def refused_after(slots: JobSlots, held: int) -> None:
    """``held`` submissions take slots; the last is refused and gives its slot back."""
    for _ in range(held):
        await slots.acquire()
    slots.refused()
    slots.release()


async def test_after_a_refusal_the_capacity_probes_back_up_one_slot_at_a_time() -> None:
    with frozen_loop_clock() as clock:
        slots = JobSlots(4, probe_interval=2.0)
        await refused_after(slots, 4)
        assert slots.capacity == 3
        waiter = asyncio.ensure_future(slots.acquire())
        await clock.advance_to(1.9)
        assert not waiter.done()
        await clock.advance_to(2.0)  # time enough for the others' jobs to end: one more
        assert waiter.done()
        assert slots.capacity == 4
        await clock.advance_to(100.0)
        assert slots.capacity == 4  # never above the configured ceiling


async def test_a_probe_brought_forward_by_a_shorter_job_length_wakes_the_waiter() -> None:
    with frozen_loop_clock() as clock:
        slots = JobSlots(4, probe_interval=2.0)
        await refused_after(slots, 4)
        waiter = asyncio.ensure_future(slots.acquire())
        await settle_tasks()  # waiting for the probe at 2 s
        slots.set_probe_interval(0.5)  # the first estimate: jobs take half a second
        await clock.advance_to(0.5)
        assert waiter.done()
        assert slots.capacity == 4


async def test_probes_refused_in_a_row_wait_twice_as_long_each_time() -> None:
    with frozen_loop_clock() as clock:
        slots = JobSlots(10, probe_interval=2.0)
        await refused_after(slots, 6)  # capacity 5, next probe at 2
        await clock.advance_to(2.0)
        assert slots.capacity == 6  # the probe
        await slots.acquire()
        slots.refused()  # and it found no room: next probe after 4 s
        slots.release()
        assert slots.capacity == 5
        await clock.advance_to(5.9)
        assert slots.capacity == 5
        await clock.advance_to(6.0)
        assert slots.capacity == 6
        await clock.advance_to(9.9)
        assert slots.capacity == 6
        await clock.advance_to(10.0)  # no refusal since: the probe at 6 held
        assert slots.capacity == 7
        await clock.advance_to(12.0)  # so the steps are 2 s again
        assert slots.capacity == 8


async def test_refusals_from_one_drop_count_once() -> None:
    with frozen_loop_clock() as clock:
        slots = JobSlots(10, probe_interval=2.0)
        for _ in range(8):
            await slots.acquire()
        for _ in range(3):  # three submissions refused together
            slots.refused()
            slots.release()
        await clock.advance_to(2.0)
        assert slots.capacity > 4  # probed after 2 s, not 16


def test_the_probe_interval_follows_the_jobs_length_within_bounds() -> None:
    slots = JobSlots(3)
    slots.set_probe_interval(0.01)
    assert slots._base_interval == PROBE_MIN
    slots.set_probe_interval(10_000)
    assert slots._base_interval == PROBE_MAX
