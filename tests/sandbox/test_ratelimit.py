"""The fixed-window request limiter, on a fake timeline."""

from __future__ import annotations

from bulkupdate.sandbox.ratelimit import FixedWindowLimiter


def test_a_window_admits_the_limit_then_refuses_until_it_closes() -> None:
    limiter = FixedWindowLimiter(limit=3, window=1.0)
    verdicts = [limiter.hit("k", 10.0 + i * 0.1) for i in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 0]
    assert limiter.hit("k", 10.999).allowed is False
    assert limiter.hit("k", 11.0).allowed is True  # a new window opens


def test_the_window_opens_with_the_first_request_after_the_last_one_closed() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    assert limiter.hit("k", 0.0).allowed
    assert limiter.hit("k", 1.5).allowed  # window [1.5, 2.5), not [1, 2)
    assert not limiter.hit("k", 2.2).allowed
    assert limiter.hit("k", 2.5).allowed


def test_reset_is_whole_seconds_rounded_up() -> None:
    limiter = FixedWindowLimiter(limit=10, window=2.0)
    assert limiter.hit("k", 0.0).reset_after == 2
    assert limiter.hit("k", 0.5).reset_after == 2
    assert limiter.hit("k", 1.2).reset_after == 1
    assert limiter.hit("k", 1.999).reset_after == 1


def test_keys_have_separate_windows() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    assert limiter.hit("a", 0.0).allowed
    assert limiter.hit("b", 0.0).allowed
    assert not limiter.hit("a", 0.1).allowed


def test_refused_requests_count_and_the_peak_remembers_them() -> None:
    limiter = FixedWindowLimiter(limit=2, window=1.0)
    for i in range(7):
        limiter.hit("k", i * 0.01)
    assert limiter.peak == 7
    limiter.reset()
    assert limiter.peak == 0
    assert limiter.hit("k", 0.5).allowed


def test_peek_does_not_count() -> None:
    limiter = FixedWindowLimiter(limit=2, window=1.0)
    limiter.hit("k", 0.0)
    assert limiter.peek("k", 0.1).remaining == 1
    assert limiter.peek("k", 0.1).remaining == 1
    assert limiter.peek("other", 0.1).headers() == {
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "2",
        "x-ratelimit-reset": "1",
    }


def test_closed_windows_are_pruned_when_many_keys_pass() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    for i in range(2000):
        limiter.hit(f"key-{i}", float(i))
    assert "FixedWindowLimiter(limit=1/1.0s" in repr(limiter)
    assert int(repr(limiter).split("keys=")[1].rstrip(")")) < 1100
