"""The retry pool: full batches while input comes, ready times, linger, one kind per batch."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.engine.retry_pool import RetryPool
from bulkupdate.input.batching import Batch, EntryKind


def num(n: int) -> str:
    return f"+1312555{n:04d}"


def ident(n: int) -> str:
    return str(1583466971586889000 + n)


def test_an_empty_pool_has_nothing() -> None:
    pool = RetryPool(3)
    assert len(pool) == 0
    assert pool.take(100.0, partial=True) is None
    assert pool.next_ready_at() is None
    assert repr(pool) == "<RetryPool 0 numbers>"


def test_while_input_comes_only_full_batches_go() -> None:
    pool = RetryPool(3)
    pool.add(num(0), 1.0)
    pool.add(num(1), 1.0)
    assert pool.take(5.0, partial=False) is None
    pool.add(num(2), 2.0)
    assert pool.take(5.0, partial=False) == Batch(EntryKind.NUMBER, (num(0), num(1), num(2)))
    assert len(pool) == 0


def test_a_full_batch_waits_until_its_numbers_are_ready() -> None:
    pool = RetryPool(2)
    pool.add(num(0), 1.0)
    pool.add(num(1), 3.0)
    assert pool.take(2.0, partial=False) is None
    assert pool.take(2.999, partial=True) == Batch(EntryKind.NUMBER, (num(0),))
    assert pool.take(2.999, partial=True) is None
    assert pool.take(3.0, partial=True) == Batch(EntryKind.NUMBER, (num(1),))


def test_a_batch_holds_at_most_batch_size_and_the_earliest_go_first() -> None:
    pool = RetryPool(2)
    for n, ready in enumerate([5.0, 1.0, 3.0, 2.0, 4.0]):
        pool.add(num(n), ready)
    first = pool.take(10.0, partial=False)
    second = pool.take(10.0, partial=False)
    assert first == Batch(EntryKind.NUMBER, (num(1), num(3)))
    assert second == Batch(EntryKind.NUMBER, (num(2), num(4)))
    assert pool.take(10.0, partial=False) is None  # one left: not a full batch
    assert pool.take(10.0, partial=True) == Batch(EntryKind.NUMBER, (num(0),))


def test_equal_ready_times_keep_the_order_they_came_in() -> None:
    pool = RetryPool(4)
    values = [num(3), num(1), num(2), num(0)]
    for value in values:
        pool.add(value, 1.0)
    batch = pool.take(1.0, partial=False)
    assert batch is not None
    assert list(batch.values) == values


def test_ids_and_numbers_never_share_a_batch() -> None:
    pool = RetryPool(3)
    pool.add(num(0), 0.0)
    pool.add(ident(0), 0.0)
    pool.add(num(1), 0.0)
    pool.add(ident(1), 0.0)
    assert pool.take(1.0, partial=False) is None  # two of each is no full batch
    pool.add(ident(2), 0.0)
    assert pool.take(1.0, partial=False) == Batch(EntryKind.ID, (ident(0), ident(1), ident(2)))
    assert pool.take(1.0, partial=True) == Batch(EntryKind.NUMBER, (num(0), num(1)))
    assert len(pool) == 0


def test_a_part_filled_batch_lingers_for_company() -> None:
    pool = RetryPool(10)
    pool.add(num(0), 1.0)
    pool.add(num(1), 1.2)
    assert pool.next_ready_at(linger=0.5) == 1.5
    assert pool.take(1.4, partial=True, linger=0.5) is None
    batch = pool.take(1.5, partial=True, linger=0.5)
    assert batch == Batch(EntryKind.NUMBER, (num(0), num(1)))


def test_linger_does_not_hold_back_a_full_batch() -> None:
    pool = RetryPool(2)
    pool.add(num(0), 1.0)
    pool.add(num(1), 1.2)
    assert pool.next_ready_at(linger=10.0) == 1.2
    assert pool.take(1.2, partial=True, linger=10.0) == Batch(EntryKind.NUMBER, (num(0), num(1)))


def test_the_next_ready_time_is_the_earliest_of_either_kind() -> None:
    pool = RetryPool(10)
    pool.add(num(0), 7.0)
    pool.add(ident(0), 4.0)
    pool.add(num(1), 5.0)
    assert pool.next_ready_at() == 4.0
    assert pool.next_ready_at(linger=1.0) == 5.0
    assert repr(pool) == "<RetryPool 3 numbers>"


def test_while_input_comes_the_next_ready_time_is_when_a_full_batch_is() -> None:
    pool = RetryPool(3)
    pool.add(num(0), 1.0)
    pool.add(num(1), 4.0)
    # Two numbers never make a full batch: only new numbers or the input's end can help.
    assert pool.next_ready_at(partial=False) is None
    pool.add(num(2), 2.0)
    assert pool.next_ready_at(partial=False) == 4.0
    assert pool.take(3.9, partial=False) is None
    assert pool.take(4.0, partial=False) is not None


@given(
    readies=st.lists(st.floats(0, 1000), min_size=1, max_size=40),
    linger=st.floats(0, 10),
    size=st.integers(1, 5),
)
def test_a_batch_is_there_at_the_announced_time(
    readies: list[float], linger: float, size: int
) -> None:
    def filled() -> RetryPool:
        pool = RetryPool(size)
        for n, ready in enumerate(readies):
            pool.add(num(n), ready)
        return pool

    pool = filled()
    at = pool.next_ready_at(linger)
    assert at is not None
    assert pool.take(math.nextafter(at, -math.inf), partial=True, linger=linger) is None
    assert pool.take(at, partial=True, linger=linger) is not None

    pool = filled()
    full_at = pool.next_ready_at(linger, partial=False)
    if full_at is None:
        assert len(readies) < size
    else:
        assert pool.take(math.nextafter(full_at, -math.inf), partial=False) is None
        assert pool.take(full_at, partial=False) is not None


@given(
    entries=st.lists(st.tuples(st.booleans(), st.floats(0, 100)), max_size=80),
    size=st.integers(1, 7),
    steps=st.lists(st.floats(0, 30), max_size=20),
)
def test_every_number_comes_out_once_in_single_kind_batches(
    entries: list[tuple[bool, float]], size: int, steps: list[float]
) -> None:
    pool = RetryPool(size)
    added: dict[str, float] = {}
    for n, (is_id, ready) in enumerate(entries):
        value = ident(n) if is_id else num(n)
        added[value] = ready
        pool.add(value, ready)
    taken: list[str] = []
    now = 0.0
    for step in [*steps, 1000.0]:
        now += step
        partial = now >= 1000.0
        while (batch := pool.take(now, partial=partial)) is not None:
            assert 1 <= len(batch) <= size
            assert partial or len(batch) == size
            assert {EntryKind.of(v) for v in batch.values} == {batch.kind}
            assert all(added[v] <= now for v in batch.values)
            taken.extend(batch.values)
    assert sorted(taken) == sorted(added)
    assert len(pool) == 0
