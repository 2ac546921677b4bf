"""The pure rate model: pacing, what the headers teach, 429s, and whole runs simulated
against every way a server may keep its limit (fixed windows, sliding log, token bucket),
with and without rate headers, on a fake clock."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.api.backoff import BackoffPolicy
from bulkupdate.api.rate_model import (
    CATCH_UP,
    CATCH_UP_SPACING,
    DECREASE_FACTOR,
    EARLY_REFUSALS,
    EARLY_SPAN,
    INCREASE_SHARE_PER_SECOND,
    MARGIN_HALF_LIFE,
    MAX_MARGIN,
    MAX_PAUSE,
    MIN_RATE,
    NEAR_LOSS,
    PROBE_SHARE_PER_SECOND,
    STEP_MARGIN,
    TIGHT_MARGIN,
    RateModel,
)
from bulkupdate.api.wire import RateHeaders
from bulkupdate.sandbox.ratelimit import RateModel as ServerModel
from bulkupdate.sandbox.ratelimit import make_limiter
from tests.ratesim import Server, simulate


def headers(
    limit: int | None = None,
    remaining: int | None = None,
    reset: float | None = None,
    retry_after: float | None = None,
) -> RateHeaders:
    return RateHeaders(limit=limit, remaining=remaining, reset=reset, retry_after=retry_after)


NONE = headers()
STEADY = BackoffPolicy(base=1.0, cap=30.0, jitter=0.0)


def answer(model: RateModel, now: float, h: RateHeaders) -> None:
    """A request sent at ``now`` and answered at once."""
    model.sent(now)
    model.answered(now, now, h)


# -- pacing -------------------------------------------------------------------------------


def test_the_model_starts_at_the_configured_rate_and_lets_the_first_request_go() -> None:
    model = RateModel(ceiling=20.0)
    assert (model.rate, model.current_rate(0.0), model.delay(0.0)) == (20.0, 20.0, 0.0)


@pytest.mark.parametrize("ceiling", [0.0, -1.0, math.nan, math.inf])
def test_an_unusable_rate_is_refused(ceiling: float) -> None:
    with pytest.raises(ValueError, match="finite number above zero"):
        RateModel(ceiling=ceiling)


def test_requests_are_spaced_at_the_rate_with_a_margin_while_the_budget_is_unknown() -> None:
    model = RateModel(ceiling=10.0, catch_up=False)
    model.sent(0.0)
    assert model.delay(0.0) == pytest.approx(0.1 * (1 + TIGHT_MARGIN))
    model.answered(0.01, 0.0, headers(limit=100, remaining=99, reset=10))
    assert model.delay(0.01) == pytest.approx(0.1 - 0.01)  # plenty left: no margin


def test_a_thin_budget_stretches_the_spacing() -> None:
    model = RateModel(ceiling=10.0, catch_up=False)
    answer(model, 0.0, headers(limit=10, remaining=2, reset=1))
    assert model.delay(0.0) == pytest.approx(0.1 * (1 + TIGHT_MARGIN))


def test_a_request_that_left_late_paces_the_next_from_when_it_left() -> None:
    model = RateModel(ceiling=10.0, catch_up=False)
    model.sent(0.0)
    model.went_out(0.04)  # the loop was busy: it reached the wire 40 ms after its turn
    assert model.delay(0.1) == pytest.approx(0.04 + 0.1 * (1 + TIGHT_MARGIN) - 0.1)
    model.went_out(0.01)  # never backwards
    assert model.last_sent == 0.04


def send_when_allowed(model: RateModel, now: float) -> float:
    now += model.delay(now)
    model.sent(now)
    return now


def test_requests_run_ahead_of_the_pace_by_at_most_the_catch_up_then_keep_it() -> None:
    model = RateModel(ceiling=10.0)
    interval = 0.1 * (1 + TIGHT_MARGIN)  # nothing known of the budget: the margin holds
    times = [send_when_allowed(model, 0.0)]
    for _ in range(5):
        times.append(send_when_allowed(model, times[-1]))
    quick = [CATCH_UP_SPACING * interval * n for n in range(CATCH_UP + 1)]
    paced = [interval * n for n in range(1, 6 - CATCH_UP)]
    assert times == pytest.approx([*quick, *paced])


def test_a_request_that_left_late_is_made_up_for_by_the_next_ones() -> None:
    model = RateModel(ceiling=10.0)
    now = 0.0
    for _ in range(CATCH_UP + 3):  # on the pace's grid
        now = send_when_allowed(model, now)
    interval = 0.1 * (1 + TIGHT_MARGIN)
    due = now + interval
    model.sent(due + 0.15)  # the loop was busy: 150 ms late
    after = [send_when_allowed(model, due + 0.15) for _ in range(3)]
    # The next goes a quarter interval after it, and the one after is back on the grid.
    assert after == pytest.approx(
        [due + 0.15 + CATCH_UP_SPACING * interval, due + 2 * interval, due + 3 * interval]
    )


def test_no_window_ever_holds_more_than_its_share_when_catching_up() -> None:
    model = RateModel(ceiling=10.0)
    sent = [send_when_allowed(model, 0.0)]
    now = 0.0
    for _ in range(200):
        now += random.Random(len(sent)).choice([0.0, 0.0, 0.0, 0.3])  # the loop is late
        now = send_when_allowed(model, now)
        sent.append(now)
    window = 1.0 * (1 + TIGHT_MARGIN)
    assert all(sent[i + 10] - sent[i] >= window - 1e-9 for i in range(len(sent) - 10))


def refuse_one_sent_early(model: RateModel, now: float) -> float:
    early = send_when_allowed(model, now)
    assert early - now < 0.1
    model.throttled_at(early + 0.01, NONE, early)
    model.paused_until = 0.0
    return send_when_allowed(model, early + 2.0)  # and one on the grid again


def test_429s_met_by_requests_sent_early_in_a_few_seconds_keep_the_pace_strict() -> None:
    model = RateModel(ceiling=10.0)
    now = send_when_allowed(model, 0.0)
    for _ in range(EARLY_REFUSALS):
        assert model.catch_up  # one refusal may be jitter on the way
        now = refuse_one_sent_early(model, now)
    assert not model.catch_up
    nxt = send_when_allowed(model, now)
    assert nxt - now >= 0.1


def test_429s_met_by_requests_sent_early_now_and_then_are_taken_for_jitter() -> None:
    model = RateModel(ceiling=10.0)
    now = send_when_allowed(model, 0.0)
    for _ in range(3 * EARLY_REFUSALS):
        now = refuse_one_sent_early(model, now + EARLY_SPAN)
    assert model.catch_up


# -- what the headers teach ---------------------------------------------------------------


def test_an_unspent_budget_teaches_the_servers_rate() -> None:
    model = RateModel(ceiling=50.0)
    answer(model, 0.0, headers(limit=100, remaining=99, reset=10.0))
    assert (model.window, model.server_rate, model.effective_ceiling) == (10.0, 10.0, 10.0)
    assert model.current_rate(0.0) == 10.0


def test_a_budget_met_part_way_does_not_teach_the_window() -> None:
    model = RateModel(ceiling=50.0)
    answer(model, 0.0, headers(limit=100, remaining=40, reset=3.0))
    assert model.server_rate is None
    assert model.effective_ceiling == 50.0


def test_the_longest_window_seen_wins() -> None:
    model = RateModel(ceiling=50.0)
    # A fixed window met near its end says 1 s; its next start says the whole 60.
    answer(model, 0.0, headers(limit=600, remaining=599, reset=0.4))
    assert model.window == 1.0
    answer(model, 1.0, headers(limit=600, remaining=599, reset=60))
    assert (model.window, model.server_rate) == (60.0, 10.0)
    answer(model, 2.0, headers(limit=600, remaining=599, reset=30))
    assert model.window == 60.0


def test_a_changed_limit_applies_at_once() -> None:
    model = RateModel(ceiling=50.0)
    answer(model, 0.0, headers(limit=20, remaining=19, reset=1))
    assert model.server_rate == 20.0
    answer(model, 0.5, headers(limit=5, remaining=0, reset=1))
    assert model.server_rate == 5.0
    assert model.current_rate(0.5) == 5.0


def test_a_faster_server_does_not_lift_the_configured_ceiling() -> None:
    model = RateModel(ceiling=5.0)
    answer(model, 0.0, headers(limit=1000, remaining=999, reset=1.0))
    assert model.effective_ceiling == 5.0


def test_a_very_slow_server_still_leaves_the_minimum_rate() -> None:
    model = RateModel(ceiling=5.0)
    answer(model, 0.0, headers(limit=1, remaining=0, reset=3600.0))
    assert model.server_rate == MIN_RATE


def test_an_answer_without_rate_headers_forgets_the_budget_but_not_the_rate() -> None:
    model = RateModel(ceiling=50.0)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    answer(model, 0.1, NONE)
    assert (model.remaining, model.server_rate, model.unanswered) == (None, 10.0, 0)


def test_a_late_answer_to_an_older_request_is_not_the_budget() -> None:
    model = RateModel(ceiling=50.0)
    model.sent(0.0)
    model.sent(0.1)
    model.answered(0.15, 0.1, headers(limit=10, remaining=3, reset=1))
    model.answered(0.2, 0.0, headers(limit=10, remaining=5, reset=1))
    assert model.remaining == 3
    assert model.unanswered == 0


def test_requests_in_the_air_count_against_the_budget() -> None:
    model = RateModel(ceiling=50.0)
    answer(model, 0.0, headers(limit=10, remaining=2, reset=1))
    model.sent(0.05)
    assert model.budget == 1


# -- a spent budget ---------------------------------------------------------------------


def test_a_spent_budget_is_not_a_reason_to_sit_out_the_reset() -> None:
    # A sliding log or a token bucket answers "none left, full again in a second" to a
    # client keeping exactly to its pace: the next request at the pace is accepted.
    model = RateModel(ceiling=10.0, catch_up=False)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    answer(model, 0.1, headers(limit=10, remaining=0, reset=1))
    assert model.delay(0.1) == pytest.approx(0.1 * (1 + TIGHT_MARGIN))
    answer(model, 0.2, headers(limit=10, remaining=0, reset=1))  # it took one more
    assert not model.recovers_in_steps


def test_a_budget_whole_again_right_after_it_was_spent_recovers_in_steps() -> None:
    model = RateModel(ceiling=10.0)
    answer(model, 0.95, headers(limit=10, remaining=9, reset=1))
    answer(model, 1.9, headers(limit=10, remaining=0, reset=1))
    answer(model, 2.02, headers(limit=10, remaining=9, reset=1))  # a new fixed window
    assert model.recovers_in_steps
    assert model.step_at == 2.02
    # Spent again early (another client?): held until the next step, not paced into it.
    answer(model, 2.5, headers(limit=10, remaining=0, reset=1))
    assert model.delay(2.6) == pytest.approx(3.02 + STEP_MARGIN - 2.6)
    # A later window's step, seen sooner after it came: the estimate moves to it.
    answer(model, 3.9, headers(limit=10, remaining=0, reset=1))
    answer(model, 4.005, headers(limit=10, remaining=9, reset=1))
    assert model.step_at == pytest.approx(4.005)
    # One seen later says nothing new.
    answer(model, 4.9, headers(limit=10, remaining=0, reset=1))
    answer(model, 5.05, headers(limit=10, remaining=9, reset=1))
    assert model.next_step(5.5) == pytest.approx(6.005 + STEP_MARGIN)


# -- 429s -------------------------------------------------------------------------------


def test_a_429_at_the_stated_rate_widens_the_spacing_instead_of_cutting_the_rate() -> None:
    model = RateModel(ceiling=10.0)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    model.sent(0.1)
    wait = model.throttled_at(0.11, headers(limit=10, remaining=0, reset=1), 0.1)
    assert model.rate == 10.0
    assert model.margin == 2 * TIGHT_MARGIN
    assert wait == pytest.approx(2 * 0.1 * (1 + model.margin))  # short: the pace was right


def test_a_429_right_after_a_short_pause_cuts_the_rate_after_all() -> None:
    model = RateModel(ceiling=10.0)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    first = model.throttled_at(0.1, headers(limit=10, remaining=0, reset=1), 0.1)
    model.throttled_at(0.1 + first + 0.01, headers(limit=10, remaining=0, reset=1), 0.1 + first)
    assert model.rate == 10.0 * DECREASE_FACTOR


def test_the_margin_stops_growing_and_then_429s_cut_the_rate() -> None:
    model = RateModel(ceiling=10.0)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    now = 0.0
    while model.margin < MAX_MARGIN:
        now += 2.0
        model.throttled_at(now, headers(limit=10, remaining=0, reset=1), now)
        assert model.rate == 10.0
    model.throttled_at(now + 2.0, headers(limit=10, remaining=0, reset=1), now + 2.0)
    assert model.rate == 10.0 * DECREASE_FACTOR


def test_a_widened_margin_halves_back_after_a_quiet_spell() -> None:
    model = RateModel(ceiling=10.0)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    model.throttled_at(1.0, headers(limit=10, remaining=0, reset=1), 1.0)
    assert model.margin == 2 * TIGHT_MARGIN
    model.interval(1.0 + MARGIN_HALF_LIFE - 0.1)
    assert model.margin == 2 * TIGHT_MARGIN
    model.interval(1.0 + MARGIN_HALF_LIFE)
    assert model.margin == TIGHT_MARGIN


def test_a_429_well_below_the_stated_rate_halves_the_rate_once_a_second() -> None:
    # Another client shares the budget: the pace is not what is wrong, the share is.
    model = RateModel(ceiling=20.0)
    answer(model, 0.0, headers(limit=10, remaining=9, reset=1))
    model.rate, model.last_increase = 6.0, 0.2
    model.throttled_at(0.2, headers(limit=10, remaining=0, reset=1), 0.15)
    assert model.rate == 6.0 * DECREASE_FACTOR
    for offset in (0.1, 0.5, 0.9):  # the 429s of requests already in flight
        model.throttled_at(0.2 + offset, headers(limit=10, remaining=0, reset=1), 0.2)
    assert model.rate == 6.0 * DECREASE_FACTOR
    assert model.throttled == 4
    assert model.margin == TIGHT_MARGIN


def test_the_rate_climbs_back_fast_to_near_the_last_429_then_slowly() -> None:
    model = RateModel(ceiling=10.0)
    model.rate = 4.0
    model.loss_rate = 8.0
    model.last_throttle = 100.0
    assert model.current_rate(100.5) == 4.0  # no increase within a second of a 429
    fast = 10.0 * INCREASE_SHARE_PER_SECOND
    assert model.current_rate(102.0) == pytest.approx(4.0 + fast)
    assert model.current_rate(104.0) == pytest.approx(4.0 + 3 * fast)
    model.current_rate(105.0)  # 8.0 ≥ 0.9 × 8: near the last 429 from here
    assert model.rate >= NEAR_LOSS * 8.0
    before = model.rate
    assert model.current_rate(106.0) == pytest.approx(before + 10.0 * PROBE_SHARE_PER_SECOND)
    assert model.current_rate(1000.0) == 10.0  # and never above the ceiling


def test_a_pause_follows_retry_after_then_the_step_then_reset_then_backoff() -> None:
    model = RateModel(ceiling=20.0, backoff=STEADY)
    answer(model, 0.0, headers(limit=30, remaining=29, reset=1))
    assert model.throttled_at(5.0, headers(retry_after=3.0)) == 3.0
    assert model.throttled_at(10.0, headers(limit=30, remaining=0, reset=7.0)) == 7.0
    assert model.throttled_at(20.0, NONE, 20.0) == 1.0
    assert model.delay(20.5) > 0


def test_the_backoff_grows_with_429s_met_right_after_a_pause() -> None:
    model = RateModel(ceiling=1.0, backoff=STEADY)
    model.window = 1.0  # the server states far more than is kept to: every 429 cuts
    model.limit = 100
    waits = []
    now = 0.0
    for _ in range(5):
        waits.append(model.throttled_at(now, NONE, model.paused_until))
        now = model.paused_until + 0.01
    assert waits == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])
    # A 429 long after the last pause starts again from the bottom.
    assert model.throttled_at(now + 60, NONE, now + 59) == 1.0


def test_a_pause_is_never_longer_than_the_maximum_nor_cut_short() -> None:
    model = RateModel(ceiling=10.0)
    model.rate = 2.0
    assert model.throttled_at(0.0, headers(retry_after=86_400.0)) == MAX_PAUSE
    model.throttled_at(2.0, headers(retry_after=1.0))
    assert model.paused_until == MAX_PAUSE


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
            limit=st.none() | st.integers(1, 200),
            remaining=st.none() | st.integers(0, 200),
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
    for step in steps:
        kind, dt = step[0], step[1]
        assert isinstance(dt, float)
        now += dt
        if kind == "sent":
            model.sent(now)
        elif kind == "answered":
            assert isinstance(step[2], RateHeaders)
            model.answered(now, now - dt / 2, step[2])
        else:
            assert isinstance(step[2], RateHeaders)
            wait = model.throttled_at(now, step[2], now - dt / 2)
            assert 0.0 <= wait <= MAX_PAUSE
        assert model.unanswered >= 0
        top = model.effective_ceiling
        assert min(MIN_RATE, top) <= model.current_rate(now) <= top
        assert TIGHT_MARGIN <= model.margin <= MAX_MARGIN
        window = model.window or 0.0
        assert 0.0 <= model.delay(now) <= MAX_PAUSE + window + 1 / MIN_RATE


# -- whole runs against each server model -------------------------------------------------

MODELS = list(ServerModel)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rate_headers", [True, False], ids=["headers", "no-headers"])
@pytest.mark.parametrize("jitter", [0.002, 0.02], ids=["steady", "jittery"])
def test_paced_at_the_limit_every_server_model_is_kept_busy_without_429s(
    model: ServerModel, rate_headers: bool, jitter: float
) -> None:
    client = RateModel(ceiling=10.0)
    server = Server(make_limiter(model, 10, 1.0), headers=rate_headers)
    outcome, busiest = simulate(client, server, seconds=120, jitter=jitter)
    assert outcome.accepted >= 0.95 * 10 * 120  # never sits out a window
    assert outcome.refused_share <= 0.01  # no 429 storm
    assert busiest.peak <= 10 + 1  # the limit, plus one at a window's edge


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rate_headers", [True, False], ids=["headers", "no-headers"])
def test_a_busy_loop_costs_little_of_the_limit_and_breaks_no_window(
    model: ServerModel, rate_headers: bool
) -> None:
    def run(catch_up: bool) -> tuple[int, int, int]:
        client = RateModel(ceiling=10.0, catch_up=catch_up)
        server = Server(make_limiter(model, 10, 1.0), headers=rate_headers)
        # A fifth of the wake-ups come up to 150 ms late (answers being decoded, jobs
        # settled): paced strictly, every late request would push all later ones back.
        outcome, busiest = simulate(client, server, seconds=120, busy_share=0.2, busy_for=0.15)
        return outcome.accepted, outcome.refused, busiest.peak

    accepted, refused, peak = run(catch_up=True)
    strict, _, _ = run(catch_up=False)
    assert accepted >= 0.95 * 10 * 120
    assert strict < 0.9 * 10 * 120  # what making up for late requests is worth
    assert refused <= 0.01 * accepted
    assert peak <= 10 + 1


def test_a_token_bucket_without_a_burst_and_without_headers_is_soon_paced_strictly() -> None:
    client = RateModel(ceiling=10.0)
    server = Server(make_limiter(ServerModel.TOKEN_BUCKET, 10, 1.0, burst=1), headers=False)
    outcome, _ = simulate(client, server, seconds=60)
    assert not client.catch_up  # requests sent early were refused
    assert outcome.refused <= EARLY_REFUSALS + 1  # and one squeezed by jitter on the way
    assert outcome.accepted >= 0.9 * 10 * 60


@pytest.mark.parametrize("model", MODELS)
def test_a_configured_rate_above_the_stated_limit_is_brought_down_to_it(
    model: ServerModel,
) -> None:
    client = RateModel(ceiling=30.0)
    outcome, busiest = simulate(client, Server(make_limiter(model, 10, 1.0)), seconds=60)
    assert outcome.refused <= 3  # the first answer states the limit
    assert outcome.accepted >= 0.95 * 10 * 60
    assert busiest.peak <= 10 + 1


def test_a_token_bucket_with_a_burst_is_paced_at_its_rate() -> None:
    client = RateModel(ceiling=10.0)
    server = Server(make_limiter(ServerModel.TOKEN_BUCKET, 10, 1.0, burst=25))
    outcome, _ = simulate(client, server, seconds=60)
    assert outcome.refused == 0
    assert outcome.accepted >= 0.97 * 10 * 60


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rate_headers", [True, False], ids=["headers", "no-headers"])
def test_a_limit_that_drops_mid_run_is_followed(model: ServerModel, rate_headers: bool) -> None:
    def drop(server: Server) -> None:
        server.limiter.limit = 5

    client = RateModel(ceiling=10.0)
    server = Server(make_limiter(model, 10, 1.0), headers=rate_headers)
    outcome, _ = simulate(client, server, seconds=90, changes={30.0: drop}, count_from=(40.0,))
    after = outcome.accepted_after[40.0] / 50
    assert after <= 5 + 0.5  # never more than the new limit for long
    assert after >= (0.9 if rate_headers else 0.6) * 5  # and kept close to it
    assert outcome.refused <= (3 if rate_headers else 14)


@pytest.mark.parametrize("model", MODELS)
def test_headers_that_disappear_mid_run_leave_the_pace_as_it_was(model: ServerModel) -> None:
    def strip(server: Server) -> None:
        server.headers = False

    client = RateModel(ceiling=20.0)  # above the limit: only the headers said so
    server = Server(make_limiter(model, 10, 1.0))
    outcome, busiest = simulate(client, server, seconds=60, changes={20.0: strip})
    assert outcome.refused == 0
    assert outcome.accepted >= 0.95 * 10 * 60
    assert busiest.peak <= 10 + 1
