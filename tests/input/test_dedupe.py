"""The set of numbers a run has seen: exact whatever the order, compact when sorted."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.input.dedupe import SeenSet

# Small ranges, so that repeats, ascending runs and numbers below the run all happen.
# Numbers of one width, and of several: "+4420" + "9" ascends as a string into
# "+4420" + "10", but not as a number.
widths = st.sampled_from(["+1312736{:04d}", "+4420{}"])
numbers = st.builds(str.format, widths, st.integers(0, 60))
ids = st.integers(0, 60).map(lambda n: str(1583466971586889000 + n))
blocks = st.one_of(
    st.lists(numbers, min_size=1, max_size=8),  # any order, perhaps with a repeat
    st.builds(  # ascending numbers
        lambda width, start, size: [width.format(n) for n in range(start, start + size)],
        widths,
        st.integers(0, 60),
        st.integers(1, 12),
    ),
)
steps = st.lists(st.one_of(numbers, ids, blocks), max_size=40)


@given(steps)
def test_seen_set_answers_as_a_set_would(steps: list[str | list[str]]) -> None:
    seen, model = SeenSet(), set[str]()
    for step in steps:
        if isinstance(step, str):
            assert seen.add(step) == (step not in model)
            model.add(step)
        else:  # a block: taken as a whole only if every number is new, once
            new = len(set(step)) == len(step) and model.isdisjoint(step)
            assert seen.add_new(step) == new
            if new:
                model.update(step)
        assert len(seen) == len(model)
        assert all(value in seen for value in model)
        assert "+13129999999" not in seen


def test_a_sorted_list_is_kept_in_a_few_bytes_a_number() -> None:
    seen = SeenSet()
    tracemalloc.start()
    try:
        for start in range(0, 100_000, 1000):
            block = [f"+1312{2_000_000 + n:07d}" for n in range(start, start + 1000)]
            assert seen.add_new(block)
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen) == 100_000
    assert kept < 100_000 * 16  # a set of ints would take about 70 bytes a number
    assert not seen.add_new(["+13122050000"])  # and each is still found
    assert seen.add("+13122000000") is False
    assert seen.add("+13122099999") is False
    assert seen.add("+13122100000")  # (the next one)


def test_a_block_ascending_as_strings_but_not_as_numbers_is_still_found() -> None:
    seen = SeenSet()
    assert seen.add_new(["+442010", "+44202"])  # "+44201…" < "+44202", but 442010 > 44202
    assert not seen.add("+442010")
    assert not seen.add("+44202")
    assert seen.add_new(["+44203", "+44204"])
    assert not seen.add_new(["+44204"])
