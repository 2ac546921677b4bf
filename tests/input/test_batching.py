"""Batches: within the limit, never mixing ids and numbers, order kept per kind."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.errors import UsageError
from bulkupdate.input.batching import MAX_BATCH_SIZE, Batcher, EntryKind, batched

numbers = st.integers(2_000_000_000, 9_999_999_999).map(lambda n: f"+1{n}")
ids = st.integers(10**15, 10**19 - 1).map(str)
values = st.lists(st.one_of(numbers, ids), max_size=400)


@given(values=values, size=st.integers(1, 60))
def test_batches_partition_the_input(values: list[str], size: int) -> None:
    out = list(batched(values, size))
    assert all(1 <= len(b) <= size for b in out)
    for batch in out:
        assert {EntryKind.of(v) for v in batch.values} == {batch.kind}
    for kind in EntryKind:
        sent = [v for b in out if b.kind is kind for v in b.values]
        assert sent == [v for v in values if EntryKind.of(v) is kind]


@given(values=st.lists(numbers, max_size=300), size=st.integers(1, 60))
def test_single_kind_input_is_cut_in_order(values: list[str], size: int) -> None:
    out = list(batched(values, size))
    assert [v for b in out for v in b.values] == values
    assert all(len(b) == size for b in out[:-1])


def test_full_batches_come_out_as_they_fill() -> None:
    batcher = Batcher(2)
    assert batcher.add(["+13125550100"]) == []
    (full,) = batcher.add(["1583466971586889004", "+13125550101"])
    assert full.values == ("+13125550100", "+13125550101")
    (rest,) = batcher.flush()
    assert rest.kind is EntryKind.ID
    assert batcher.flush() == []


@pytest.mark.parametrize("size", [0, -1, MAX_BATCH_SIZE + 1])
def test_batch_size_outside_the_api_limit_is_a_usage_error(size: int) -> None:
    with pytest.raises(UsageError, match="1 to 1000"):
        Batcher(size)


@given(values=st.lists(st.one_of(numbers, ids, st.text(max_size=4)), max_size=50))
def test_any_strings_are_batched_by_their_first_character(values: list[str]) -> None:
    """Chunks of one kind are cut in slices; any mix, line breaks and all, still sorts."""
    for batch in batched(values, 7):
        assert {EntryKind.of(v) for v in batch.values} == {batch.kind}
    assert sorted(v for b in batched(values, 7) for v in b.values) == sorted(values)
    (odd,) = batched(["1\n+2"], 7)
    assert odd.kind is EntryKind.ID
