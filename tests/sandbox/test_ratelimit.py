"""The request limiters of every rate model, on a fake timeline."""

from __future__ import annotations

import pytest

from bulkupdate.sandbox.ratelimit import (
    BusiestSecond,
    FixedWindowLimiter,
    RateModel,
    SlidingLogLimiter,
    TokenBucketLimiter,
    make_limiter,
)

# -- fixed windows on the server's clock -------------------------------------------------


def test_a_window_admits_the_limit_then_refuses_until_it_closes() -> None:
    limiter = FixedWindowLimiter(limit=3, window=1.0)
    verdicts = [limiter.hit("k", 10.0 + i * 0.1) for i in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 0]
    assert limiter.hit("k", 10.999).allowed is False
    assert limiter.hit("k", 11.0).allowed is True  # a new window opens


def test_windows_are_aligned_to_the_clock_not_to_the_first_request() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    assert limiter.hit("k", 0.9).allowed
    assert limiter.hit("k", 1.0).allowed  # window [1, 2), though [0.9, 1.9) would refuse
    assert not limiter.hit("k", 1.5).allowed
    assert limiter.hit("k", 2.0).allowed


def test_reset_is_the_whole_seconds_to_the_windows_end_rounded_up() -> None:
    limiter = FixedWindowLimiter(limit=10, window=2.0)
    assert limiter.hit("k", 0.0).reset_after == 2
    assert limiter.hit("k", 0.5).reset_after == 2
    assert limiter.hit("k", 1.2).reset_after == 1
    assert limiter.hit("k", 1.999).reset_after == 1
    assert limiter.hit("k", 2.5).reset_after == 2  # [2, 4)


def test_keys_have_separate_windows() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    assert limiter.hit("a", 0.0).allowed
    assert limiter.hit("b", 0.0).allowed
    assert not limiter.hit("a", 0.1).allowed


def test_refused_requests_are_charged_unless_told_otherwise() -> None:
    charged = FixedWindowLimiter(limit=2, window=1.0)
    free = FixedWindowLimiter(limit=2, window=1.0, count_refused=False)
    for limiter in (charged, free):
        for i in range(5):
            limiter.hit("k", i * 0.01)
    assert charged._windows["k"][1] == 5
    assert free._windows["k"][1] == 2
    charged.reset()
    assert charged.hit("k", 0.5).remaining == 1


def test_peek_does_not_count_and_a_spent_nothing_key_is_fully_recovered() -> None:
    limiter = FixedWindowLimiter(limit=2, window=1.0)
    limiter.hit("k", 0.0)
    assert limiter.peek("k", 0.1).remaining == 1
    assert limiter.peek("k", 0.1).remaining == 1
    assert limiter.peek("other", 0.1).headers() == {
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "2",
        "x-ratelimit-reset": "0",
    }


def test_closed_windows_are_pruned_when_many_keys_pass() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    for i in range(2000):
        limiter.hit(f"key-{i}", float(i))
    assert "FixedWindowLimiter(limit=1/1.0s" in repr(limiter)
    assert int(repr(limiter).split("keys=")[1].rstrip(")")) < 1100


# -- the sliding log --------------------------------------------------------------------


def test_a_sliding_log_admits_a_request_once_the_oldest_has_aged_out() -> None:
    limiter = SlidingLogLimiter(limit=2, window=1.0, count_refused=False)
    assert limiter.hit("k", 10.0).allowed
    assert limiter.hit("k", 10.6).allowed
    refused = limiter.hit("k", 10.9)
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 1)
    assert limiter.hit("k", 11.0).allowed  # 10.0 left the last second
    assert not limiter.hit("k", 11.5).allowed
    assert limiter.hit("k", 11.61).allowed


def test_paced_exactly_at_the_limit_a_sliding_log_never_refuses() -> None:
    limiter = SlidingLogLimiter(limit=10, window=1.0)
    verdicts = [limiter.hit("k", 100.0 + i * 0.1) for i in range(100)]
    assert all(v.allowed for v in verdicts)
    assert {v.remaining for v in verdicts[10:]} == {0}  # always at the edge
    assert {v.reset_after for v in verdicts} == {1}  # the newest ages out in a second


def test_a_charged_refusal_stays_in_the_log() -> None:
    limiter = SlidingLogLimiter(limit=1, window=1.0)
    assert limiter.hit("k", 0.0).allowed
    assert not limiter.hit("k", 0.5).allowed
    assert not limiter.hit("k", 1.2).allowed  # the refused request at 0.5 still counts
    assert limiter.hit("k", 2.3).allowed


def test_idle_sliding_logs_are_pruned() -> None:
    limiter = SlidingLogLimiter(limit=1, window=1.0)
    for i in range(2000):
        limiter.hit(f"key-{i}", float(i))
    assert int(repr(limiter).split("keys=")[1].rstrip(")")) < 1100


# -- the token bucket (GCRA) ------------------------------------------------------------


def test_a_token_bucket_admits_its_burst_then_one_per_interval() -> None:
    limiter = TokenBucketLimiter(limit=10, window=1.0, burst=3, count_refused=False)
    burst = [limiter.hit("k", 5.0) for _ in range(4)]
    assert [v.allowed for v in burst] == [True, True, True, False]
    assert [v.remaining for v in burst] == [2, 1, 0, 0]
    assert burst[3].retry_after == 1  # 0.1 s to the next token, in whole seconds
    assert not limiter.hit("k", 5.05).allowed
    assert limiter.hit("k", 5.1).allowed
    assert limiter.hit("k", 5.2).allowed


def test_a_token_buckets_headers_say_its_capacity_and_when_it_is_full_again() -> None:
    limiter = TokenBucketLimiter(limit=2, window=1.0, burst=8)
    verdict = limiter.hit("k", 0.0)
    assert verdict.headers() == {
        "x-ratelimit-limit": "8",
        "x-ratelimit-remaining": "7",
        "x-ratelimit-reset": "1",
    }
    for _ in range(5):
        verdict = limiter.hit("k", 0.0)
    assert (verdict.remaining, verdict.reset_after) == (2, 3)  # 6 spent at 2 a second
    assert limiter.peek("k", 3.0).remaining == 8
    assert limiter.peek("k", 3.0).reset_after == 0


def test_paced_at_its_rate_a_token_bucket_stays_full() -> None:
    limiter = TokenBucketLimiter(limit=10, window=1.0)  # burst: the limit
    verdicts = [limiter.hit("k", i * 0.1) for i in range(50)]
    assert all(v.allowed for v in verdicts)
    assert {v.remaining for v in verdicts} == {9}


@pytest.mark.parametrize("model", list(RateModel))
def test_a_first_request_on_the_real_clock_leaves_all_but_one_of_the_limit(
    model: RateModel,
) -> None:
    """Seconds since the epoch are floats exact to about 0.24 µs: the headers must not
    take that rounding for a request spent (a client learns the window from them)."""
    for step in range(500):
        now = 1_796_087_027.3709 + step * 0.0137
        assert make_limiter(model, 40, 1.0).hit("k", now).remaining == 39


def test_charged_refusals_push_a_token_bucket_further_out() -> None:
    limiter = TokenBucketLimiter(limit=1, window=1.0, burst=1)
    assert limiter.hit("k", 0.0).allowed
    assert not limiter.hit("k", 0.5).allowed  # charged: the bucket is now due at 2.0
    assert not limiter.hit("k", 1.5).allowed
    assert limiter.hit("k", 3.0).allowed


# -- every model ------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(RateModel))
def test_no_model_admits_more_than_its_limit_in_a_window_from_a_standing_start(
    model: RateModel,
) -> None:
    limiter = make_limiter(model, 5, 1.0)
    admitted = sum(limiter.hit("k", 7.0 + i * 0.001).allowed for i in range(50))
    assert admitted == 5


@pytest.mark.parametrize("model", list(RateModel))
def test_the_limit_can_change_while_requests_are_counted(model: RateModel) -> None:
    limiter = make_limiter(model, 10, 1.0)
    for i in range(4):
        assert limiter.hit("k", 3.0 + i * 0.01).allowed
    limiter.limit = 4
    verdict = limiter.hit("k", 3.05)
    assert not verdict.allowed or model is RateModel.TOKEN_BUCKET
    assert verdict.limit == 4


def test_the_busiest_second_is_any_one_second_span() -> None:
    meter = BusiestSecond()
    for now in (0.5, 0.6, 0.95, 1.2, 1.4, 1.55, 2.6):
        meter.record(now)
    assert meter.peak == 5  # 0.6 … 1.55
    meter.reset()
    assert meter.peak == 0
