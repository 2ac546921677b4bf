"""The tail's plan: how much of what is left each job starting now should carry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.engine.tail_sizes import planned_end, tail_share


def shares_of(
    remaining: int, slots: int, *, seconds_per_number: float, rate: float, max_batch: int = 1000
) -> list[int]:
    """The shares of successive jobs, started one per request interval as slots come
    free (each slot busy until its job's work is done), all slots free at first."""
    ends = [0.0] * slots  # when each slot comes free
    shares: list[int] = []
    now = 0.0
    while remaining:
        slot = min(range(slots), key=ends.__getitem__)
        now = max(now, ends[slot])
        others = ends[:slot] + ends[slot + 1 :]
        share = tail_share(
            remaining, now, others, seconds_per_number=seconds_per_number, rate=rate,
            max_batch=max_batch,
        )  # fmt: skip
        shares.append(share)
        remaining -= share
        ends[slot] = now + share * seconds_per_number
        now += 1 / rate
    return shares


def test_limited_by_requests_the_tail_goes_in_full_jobs_until_little_is_left() -> None:
    shares = shares_of(24_000, 20, seconds_per_number=0.0005, rate=10)
    assert shares[:20] == [1000] * 20
    assert sum(shares) == 24_000
    assert len(shares) <= 26


def test_a_little_left_at_a_slow_rate_goes_in_one_job() -> None:
    # Splitting 500 numbers would save less than the two requests another job costs.
    assert shares_of(500, 20, seconds_per_number=0.0005, rate=10) == [500]


def test_limited_by_slots_the_tail_is_spread_so_the_jobs_end_together() -> None:
    shares = shares_of(4000, 20, seconds_per_number=0.005, rate=1000)
    assert len(shares) <= 21  # one more at most for what rounding left
    ends = [n / 1000 + share * 0.005 for n, share in enumerate(shares[:20])]
    assert max(ends) - min(ends) < 0.05


def test_a_slot_that_comes_free_later_gets_less() -> None:
    now_share = tail_share(
        1500, 0.0, [1.0, 2.0], seconds_per_number=0.001, rate=100, max_batch=2000
    )
    later = tail_share(1500, 1.0, [0.0, 2.0], seconds_per_number=0.001, rate=100, max_batch=2000)
    assert now_share == pytest.approx(1250, abs=15)
    assert later == pytest.approx(750, abs=15)


def test_without_a_pace_or_an_estimate_the_jobs_are_full() -> None:
    def share(remaining: int, free: list[float], spn: float | None) -> int:
        return tail_share(remaining, 0.0, free, seconds_per_number=spn, rate=10, max_batch=1000)

    assert share(5000, [0.0] * 9, None) == 1000
    assert share(300, [0.0] * 9, None) == 300
    assert share(0, [], 0.01) == 0


def test_more_work_left_makes_bigger_shares() -> None:
    def share(remaining: int) -> int:
        return tail_share(
            remaining, 0.0, [0.0] * 19, seconds_per_number=0.005, rate=1e6, max_batch=1000
        )

    assert share(4000) == pytest.approx(200, abs=1)  # twenty slots share 4000 numbers
    assert share(8000) == pytest.approx(400, abs=1)  # and 8000


@given(
    remaining=st.integers(1, 50_000),
    now=st.floats(0, 100),
    free=st.lists(st.floats(0, 200), max_size=30),
    seconds_per_number=st.floats(1e-6, 0.1),
    rate=st.floats(0.2, 1000),
    max_batch=st.integers(1, 1000),
)
def test_a_share_is_at_least_one_and_never_more_than_a_batch_or_what_is_left(
    remaining: int,
    now: float,
    free: list[float],
    seconds_per_number: float,
    rate: float,
    max_batch: int,
) -> None:
    share = tail_share(
        remaining, now, free, seconds_per_number=seconds_per_number, rate=rate,
        max_batch=max_batch,
    )  # fmt: skip
    assert 1 <= share <= min(remaining, max_batch)
    end = planned_end(
        remaining, now, free, seconds_per_number=seconds_per_number, rate=rate,
        max_batch=max_batch,
    )  # fmt: skip
    assert end >= now


@pytest.mark.parametrize("rate", [1.0, 10.0, 100.0])
def test_every_number_gets_a_job_whatever_the_rate(rate: float) -> None:
    shares = shares_of(12_345, 20, seconds_per_number=0.002, rate=rate)
    assert sum(shares) == 12_345
    assert all(1 <= share <= 1000 for share in shares)
