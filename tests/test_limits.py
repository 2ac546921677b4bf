"""Rate and capacity: the pure rate model, the governor on a frozen loop clock, job slots."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from aiolimiter import AsyncLimiter
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.backoff import BackoffPolicy
from bulkupdate.limits import (
    DECREASE_FACTOR,
    INCREASE_SHARE_PER_SECOND,
    MAX_PAUSE,
    MIN_RATE,
    WINDOW_MARGIN,
    JobSlots,
    RateGovernor,
    RateModel,
    _AdjustableLimiter,
)
from bulkupdate.wire import RateHeaders


def headers(
    limit: int | None = None,
    remaining: int | None = None,
    reset: float | None = None,
    retry_after: float | None = None,
) -> RateHeaders:
    return RateHeaders(limit=limit, remaining=remaining, reset=reset, retry_after=retry_after)


NONE = headers()
STEADY = BackoffPolicy(base=0.5, cap=30.0, jitter=0.0)  # backoff without the dice


# -- the pure model: pacing ------------------------------------------------------------


def test_the_model_starts_at_the_configured_rate() -> None:
    model = RateModel(ceiling=20.0)
    assert model.rate == 20.0
    assert model.current_rate(0.0) == 20.0
    assert model.delay(0.0) == 0.0


@pytest.mark.parametrize("ceiling", [0.0, -1.0, float("nan")])
def test_a_rate_of_zero_or_less_is_refused(ceiling: float) -> None:
    with pytest.raises(ValueError, match="above zero"):
        RateModel(ceiling=ceiling)


def test_a_throttle_halves_the_rate_down_to_a_floor() -> None:
    model = RateModel(ceiling=8.0)
    model.throttled_at(10.0, headers(retry_after=0))
    assert model.rate == 8.0 * DECREASE_FACTOR
    for second in range(1, 21):
        model.throttled_at(10.0 + second, headers(retry_after=0))
    assert model.rate == MIN_RATE
    assert model.throttled == 21


def test_throttles_within_one_window_cut_the_rate_once() -> None:
    model = RateModel(ceiling=8.0)
    for offset in (0.0, 0.1, 0.5, 0.9):  # the 429s of requests already in flight
        model.throttled_at(10.0 + offset, headers(retry_after=0))
    assert model.rate == 8.0 * DECREASE_FACTOR
    assert model.throttled == 4
    model.throttled_at(11.0, headers(retry_after=0))
    assert model.rate == 8.0 * DECREASE_FACTOR**2


def test_the_rate_climbs_back_additively_a_second_after_the_last_throttle() -> None:
    model = RateModel(ceiling=10.0)
    model.throttled_at(100.0, headers(retry_after=0))
    assert model.current_rate(100.5) == 5.0  # no increase within a second of a 429
    assert model.current_rate(101.0) == 5.0
    step = 10.0 * INCREASE_SHARE_PER_SECOND
    assert model.current_rate(102.0) == pytest.approx(5.0 + step)
    assert model.current_rate(104.0) == pytest.approx(5.0 + 3 * step)
    assert model.current_rate(104.0) == pytest.approx(5.0 + 3 * step)  # asking twice adds nothing
    assert model.current_rate(1000.0) == 10.0  # never above the ceiling


def test_a_new_throttle_restarts_the_climb() -> None:
    model = RateModel(ceiling=10.0)
    model.throttled_at(100.0, headers(retry_after=0))
    model.current_rate(103.0)
    model.throttled_at(103.0, headers(retry_after=0))
    rate = model.rate
    assert model.current_rate(103.9) == rate
    assert model.current_rate(105.0) == pytest.approx(rate + 1.0)


# -- the pure model: the server's window ------------------------------------------------


def test_the_first_answer_of_a_window_teaches_the_servers_rate() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=100, remaining=99, reset=10.0))
    assert model.server_rate == 10.0
    assert model.effective_ceiling == 10.0
    assert model.current_rate(0.0) == 10.0
    assert model.window_end == 10.0 + WINDOW_MARGIN
    assert model.window_remaining == 99


def test_a_fractional_reset_counts_as_the_whole_second_it_is_in() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=10, remaining=9, reset=2.5))
    assert model.server_rate == pytest.approx(10 / 3)


def test_the_servers_rate_is_not_learned_mid_window() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=100, remaining=40, reset=10.0))
    assert model.server_rate is None
    assert model.window_remaining == 40
    assert model.effective_ceiling == 50.0


def test_a_faster_server_does_not_lift_the_configured_ceiling() -> None:
    model = RateModel(ceiling=5.0)
    model.answered(0.0, headers(limit=1000, remaining=999, reset=1.0))
    assert model.effective_ceiling == 5.0
    assert model.current_rate(0.0) == 5.0


def test_a_very_slow_server_still_leaves_the_minimum_rate() -> None:
    model = RateModel(ceiling=5.0)
    model.answered(0.0, headers(limit=1, remaining=0, reset=3600.0))
    assert model.server_rate == MIN_RATE


def test_a_spent_window_holds_requests_until_it_resets() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=3, remaining=2, reset=10.0))
    model.answered(1.0, headers(limit=3, remaining=1, reset=9.0))
    assert model.delay(1.0) == 0.0
    model.answered(2.0, headers(limit=3, remaining=0, reset=8.0))
    assert model.delay(2.0) == pytest.approx(8.0 + WINDOW_MARGIN)
    assert model.delay(9.0) == pytest.approx(1.0 + WINDOW_MARGIN)
    assert model.delay(10.0 + WINDOW_MARGIN) == 0.0
    assert model.window_end is None  # the window reset: a new one is learned from answers


def test_requests_still_unanswered_count_against_the_window() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=10, remaining=2, reset=5.0))
    model.sent()
    assert model.delay(0.1) == 0.0
    model.sent()
    assert model.delay(0.1) == pytest.approx(4.9 + WINDOW_MARGIN)
    model.answered(0.2, NONE)  # one answer without rate headers: one fewer in the air
    assert model.unanswered == 1
    assert model.delay(0.2) == 0.0


def test_within_a_window_the_end_and_the_remaining_only_move_down() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=10, remaining=5, reset=10.0))
    model.answered(1.0, headers(limit=10, remaining=7, reset=12.0))  # a late, stale answer
    assert model.window_end == 10.0 + WINDOW_MARGIN
    assert model.window_remaining == 5
    model.answered(2.0, headers(limit=10, remaining=4, reset=5.0))
    assert model.window_end == 7.0 + WINDOW_MARGIN
    assert model.window_remaining == 4


def test_a_full_window_starts_a_new_one_even_before_the_estimated_end() -> None:
    model = RateModel(ceiling=50.0)
    model.answered(0.0, headers(limit=10, remaining=0, reset=10.0))
    model.answered(9.0, headers(limit=10, remaining=9, reset=10.0))  # the server reset early
    assert model.window_remaining == 9
    assert model.window_end == 19.0 + WINDOW_MARGIN
    assert model.delay(9.0) == 0.0


def test_answers_without_rate_headers_change_nothing_but_the_count() -> None:
    model = RateModel(ceiling=50.0)
    model.sent()
    model.answered(0.0, headers(limit=10, remaining=None, reset=3.0))
    assert (model.window_end, model.server_rate, model.unanswered) == (None, None, 0)
    model.answered(0.0, NONE)
    assert model.unanswered == 0  # never below zero


# -- the pure model: 429 pauses -----------------------------------------------------------


def test_a_throttle_pauses_for_retry_after_first() -> None:
    model = RateModel(ceiling=10.0)
    wait = model.throttled_at(50.0, headers(limit=10, remaining=0, reset=9.0, retry_after=3.0))
    assert wait == pytest.approx(3.0 + WINDOW_MARGIN)
    assert model.delay(50.0) == pytest.approx(3.0 + WINDOW_MARGIN)
    assert model.delay(53.0 + WINDOW_MARGIN) == 0.0


def test_without_retry_after_a_throttle_pauses_until_the_reset() -> None:
    model = RateModel(ceiling=10.0)
    wait = model.throttled_at(50.0, headers(limit=10, remaining=0, reset=7.0))
    assert wait == pytest.approx(7.0 + WINDOW_MARGIN)


@pytest.mark.parametrize("reset", [None, 0.0])
def test_without_any_hint_a_throttle_backs_off(reset: float | None) -> None:
    model = RateModel(ceiling=10.0, backoff=STEADY)
    assert model.throttled_at(50.0, headers(reset=reset)) == pytest.approx(0.5 + WINDOW_MARGIN)


def test_the_backoff_grows_with_throttles_in_a_row() -> None:
    model = RateModel(ceiling=10.0, backoff=STEADY)
    waits = [model.throttled_at(50.0 + i, NONE) - WINDOW_MARGIN for i in range(5)]
    assert waits == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0])


def test_after_a_quiet_spell_the_backoff_starts_again_from_the_bottom() -> None:
    model = RateModel(ceiling=10.0, backoff=STEADY)
    for i in range(6):  # throttles far apart: none of them is in a row with another
        assert model.throttled_at(100.0 * i, NONE) == pytest.approx(0.5 + WINDOW_MARGIN)
    # Two in a row, long after the others: the second is the second of its streak.
    assert model.throttled_at(1000.0, NONE) == pytest.approx(0.5 + WINDOW_MARGIN)
    assert model.throttled_at(1001.0, NONE) == pytest.approx(1.0 + WINDOW_MARGIN)
    assert model.throttled == 8


def test_a_pause_is_never_longer_than_the_maximum() -> None:
    model = RateModel(ceiling=10.0)
    assert model.throttled_at(0.0, headers(retry_after=86_400.0)) == MAX_PAUSE + WINDOW_MARGIN


def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    model = RateModel(ceiling=10.0)
    model.throttled_at(0.0, headers(retry_after=10.0))
    model.throttled_at(1.0, headers(retry_after=1.0))
    assert model.paused_until == pytest.approx(10.0 + WINDOW_MARGIN)


def test_a_throttle_forgets_the_window_it_thought_it_knew() -> None:
    model = RateModel(ceiling=10.0)
    model.answered(0.0, headers(limit=10, remaining=5, reset=10.0))
    model.throttled_at(1.0, headers(retry_after=1.0))
    assert (model.window_end, model.window_remaining) == (None, None)


events = st.one_of(
    st.tuples(st.just("sent"), st.floats(0, 3)),
    st.tuples(
        st.just("answered"),
        st.floats(0, 3),
        st.builds(
            headers,
            limit=st.none() | st.integers(1, 200),
            remaining=st.none() | st.integers(0, 200),
            reset=st.none() | st.floats(0, 120),
        ),
    ),
    st.tuples(
        st.just("throttled"),
        st.floats(0, 3),
        st.builds(
            headers,
            reset=st.none() | st.floats(0, 120),
            retry_after=st.none() | st.floats(0, 1000),
        ),
    ),
)


@given(ceiling=st.floats(0.01, 1000), steps=st.lists(events, max_size=40))
def test_the_rate_and_delays_stay_in_bounds_whatever_happens(
    ceiling: float, steps: list[tuple[object, ...]]
) -> None:
    model = RateModel(ceiling=ceiling)
    now = 0.0
    paused_until = 0.0
    for step in steps:
        kind, dt = step[0], step[1]
        assert isinstance(dt, float)
        now += dt
        if kind == "sent":
            model.sent()
        elif kind == "answered":
            assert isinstance(step[2], RateHeaders)
            model.answered(now, step[2])
        else:
            assert isinstance(step[2], RateHeaders)
            wait = model.throttled_at(now, step[2])
            assert WINDOW_MARGIN <= wait <= MAX_PAUSE + WINDOW_MARGIN
            assert model.delay(now) > 0
        assert model.paused_until >= paused_until
        paused_until = model.paused_until
        assert model.unanswered >= 0
        top = model.effective_ceiling
        assert min(MIN_RATE, top) <= model.current_rate(now) <= top
        assert 0.0 <= model.delay(now) <= MAX_PAUSE + 120 + 2 * WINDOW_MARGIN


# -- the leaky bucket and the governor on a frozen loop clock ----------------------------


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


async def test_a_slower_rate_spaces_a_waiting_acquire_further_out() -> None:
    with frozen_loop_clock() as clock:
        plain = AsyncLimiter(1, 0.1)  # 10 a second, as aiolimiter has it
        adjusted = _AdjustableLimiter(1, 0.1)
        await plain.acquire()
        await adjusted.acquire()
        control = asyncio.ensure_future(plain.acquire())
        waiter = asyncio.ensure_future(adjusted.acquire())
        await clock.advance_to(0.05)
        assert not control.done()
        assert not waiter.done()
        adjusted.set_rate(2.0)  # half a bucket left to drain, now at 2 a second: 0.25 s
        await clock.advance_to(0.1)
        assert control.done()
        assert not waiter.done()
        await clock.advance_to(0.29)
        assert not waiter.done()
        await clock.advance_to(0.31)
        assert waiter.done()


async def test_a_faster_rate_wakes_a_waiting_acquire_sooner() -> None:
    with frozen_loop_clock() as clock:
        limiter = _AdjustableLimiter(1, 1.0)  # one a second
        await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await clock.advance_to(0.1)
        assert not waiter.done()
        limiter.set_rate(10.0)  # 0.9 left to drain at 10 a second: done by 0.19
        await clock.advance_to(0.18)
        assert not waiter.done()
        await clock.advance_to(0.2)
        assert waiter.done()


async def test_changing_the_rate_keeps_the_bucket_level() -> None:
    with frozen_loop_clock() as clock:
        limiter = _AdjustableLimiter(1, 0.1)
        await limiter.acquire()
        limiter.set_rate(1.0)
        assert not limiter.has_capacity()  # a fresh limiter would allow a burst here
        await clock.advance_to(0.5)
        assert not limiter.has_capacity()
        await clock.advance_to(1.0)
        assert limiter.has_capacity()
        assert limiter.time_period == 1.0


async def test_the_governor_spaces_requests_at_its_rate() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        await governor.acquire()
        second = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(0.09)
        assert not second.done()
        await clock.advance_to(0.1)
        assert second.done()
        assert governor.requests == 2
        assert governor.model.unanswered == 2


async def test_after_a_throttle_the_governor_pauses_then_drips_at_half_the_rate() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(10.0, clock=clock)
        await governor.acquire()
        governor.throttled(headers(retry_after=0.5))  # paused until 0.51, rate 5 a second
        assert governor.model.unanswered == 0
        second = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(0.5)
        assert not second.done()  # the bucket alone would have let it go at 0.1
        await clock.advance_to(0.52)
        assert second.done()
        third = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(0.52 + 0.15)
        assert not third.done()  # at the old 10 a second it would be through by now
        await clock.advance_to(0.52 + 0.21)
        assert third.done()
        assert governor.model.throttled == 1
        assert "throttled=1" in repr(governor)


async def test_the_governor_holds_requests_while_the_servers_window_is_spent() -> None:
    with frozen_loop_clock() as clock:
        governor = RateGovernor(100.0, clock=clock)
        await governor.acquire()
        governor.answered(headers(limit=2, remaining=0, reset=3.0))
        waiter = asyncio.ensure_future(governor.acquire())
        await clock.advance_to(2.9)
        assert not waiter.done()
        await clock.advance_to(3.0 + 2 * WINDOW_MARGIN)
        assert waiter.done()


async def test_an_abandoned_request_stops_counting_against_the_window() -> None:
    with frozen_loop_clock():
        governor = RateGovernor(100.0)
        await governor.acquire()
        assert governor.model.unanswered == 1
        governor.abandoned()
        governor.abandoned()
        assert governor.model.unanswered == 0


# -- job slots --------------------------------------------------------------------------


async def settle_tasks() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


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
    assert repr(slots) == "<JobSlots 2/2 waiting=1>"
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


async def test_a_lowered_cap_holds_waiters_until_enough_jobs_end() -> None:
    slots = JobSlots(3)
    for _ in range(3):
        await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await settle_tasks()
    slots.lower(1)
    assert slots.capacity == 1
    slots.release()
    slots.release()
    await settle_tasks()
    assert not waiter.done()  # one job still active: the cap is one
    slots.release()
    await settle_tasks()
    assert waiter.done()
    assert slots.active == 1


def test_the_cap_only_goes_down_and_never_below_one() -> None:
    slots = JobSlots(3)
    slots.lower(10)
    assert slots.capacity == 3
    slots.lower(0)
    assert slots.capacity == 1
    slots.lower(-5)
    assert slots.capacity == 1


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
