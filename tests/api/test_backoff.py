"""Backoff: a pure function of the attempt, the policy, a server hint and one random draw."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.api.backoff import DEFAULT_POLICY, BackoffPolicy, compute_backoff

policies = st.builds(
    lambda base, factor, jitter: BackoffPolicy(base=base, cap=base * factor, jitter=jitter),
    base=st.floats(0.001, 10.0),
    factor=st.floats(1.0, 1000.0),
    jitter=st.floats(0.0, 1.0),
)
draws = st.floats(0.0, 1.0, exclude_max=True)
hints = st.none() | st.floats(0.0, 10_000.0)


def ceiling(attempt: int, policy: BackoffPolicy) -> float:
    """The un-jittered wait, computed the slow, exact way (no overflow for big attempts)."""
    exponent = max(0, attempt - 1)
    if exponent > 1000:  # far past any cap these tests use
        return policy.cap
    return min(policy.cap, policy.base * 2.0**exponent)


@given(attempt=st.integers(-3, 100_000), policy=policies, draw=draws)
def test_the_wait_lies_in_the_jittered_band_below_the_cap(
    attempt: int, policy: BackoffPolicy, draw: float
) -> None:
    top = ceiling(attempt, policy)
    wait = compute_backoff(attempt, policy, rand=lambda: draw)
    assert math.isfinite(wait)
    assert top * (1 - policy.jitter) - 1e-9 <= wait <= top + 1e-9
    assert wait <= policy.cap + 1e-9


@given(attempt=st.integers(1, 2_000), policy=policies, draw=draws, hint=hints)
def test_a_server_hint_is_honoured_up_to_four_caps(
    attempt: int, policy: BackoffPolicy, draw: float, hint: float | None
) -> None:
    plain = compute_backoff(attempt, policy, rand=lambda: draw)
    wait = compute_backoff(attempt, policy, hint=hint, rand=lambda: draw)
    if hint is None:
        assert wait == plain
    else:
        assert wait == max(plain, min(hint, policy.cap * 4))
        assert wait >= min(hint, policy.cap * 4)
        assert wait <= max(plain, policy.cap * 4)


@given(policy=policies, draw=draws, attempt=st.integers(1, 200))
def test_the_wait_never_shrinks_as_attempts_grow(
    policy: BackoffPolicy, draw: float, attempt: int
) -> None:
    def wait(n: int) -> float:
        return compute_backoff(n, policy, rand=lambda: draw)

    assert wait(attempt) <= wait(attempt + 1)


def test_without_jitter_the_wait_doubles_from_base_to_cap() -> None:
    policy = BackoffPolicy(base=0.5, cap=3.0, jitter=0.0)
    waits = [compute_backoff(n, policy, rand=lambda: 0.7) for n in range(1, 6)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_draw_scales_the_wait_within_the_jitter_share() -> None:
    policy = BackoffPolicy(base=1.0, cap=60.0, jitter=0.5)
    assert compute_backoff(3, policy, rand=lambda: 0.0) == 4.0
    assert compute_backoff(3, policy, rand=lambda: 0.5) == 3.0
    full = BackoffPolicy(base=1.0, cap=60.0, jitter=1.0)
    assert compute_backoff(3, full, rand=lambda: 0.75) == 1.0


@pytest.mark.parametrize("attempt", [0, -1, 1])
def test_attempts_below_one_wait_like_the_first(attempt: int) -> None:
    assert compute_backoff(attempt, DEFAULT_POLICY, rand=lambda: 0.0) == DEFAULT_POLICY.base


def test_a_huge_attempt_count_waits_the_cap_instead_of_overflowing() -> None:
    policy = BackoffPolicy(base=0.5, cap=30.0, jitter=0.0)
    assert compute_backoff(5_000, policy) == 30.0
    assert compute_backoff(10**9, policy) == 30.0


def test_a_hint_longer_than_four_caps_is_cut_to_four_caps() -> None:
    policy = BackoffPolicy(base=0.5, cap=10.0)
    assert compute_backoff(1, policy, hint=3600.0, rand=lambda: 0.0) == 40.0
    assert compute_backoff(1, policy, hint=7.0, rand=lambda: 0.0) == 7.0
    assert compute_backoff(1, policy, hint=0.0, rand=lambda: 0.0) == 0.5


def test_the_default_draw_is_random_but_in_the_band() -> None:
    policy = BackoffPolicy(base=2.0, cap=60.0, jitter=0.5)
    waits = {compute_backoff(2, policy) for _ in range(50)}
    assert all(2.0 <= w <= 4.0 for w in waits)
    assert len(waits) > 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0.0},
        {"base": -1.0},
        {"base": 2.0, "cap": 1.0},
        {"jitter": -0.1},
        {"jitter": 1.5},
    ],
)
def test_an_unusable_policy_is_refused_when_built(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="unusable backoff policy"):
        BackoffPolicy(**kwargs)
