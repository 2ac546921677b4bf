"""The backward sweep against an adversary who picks every timing.

A listing kept in phone-number order is read through ``Sweep`` while, before each page,
hypothesis decides which of the updates sent so far have been applied (each takes its
number out of the listing when the update moves numbers out of the filter), whether
somebody else adds or removes a number anywhere, and whether the listing's meta tells the
truth. Whatever it picks: no number is taken twice, every number that matched throughout
is taken, and the sweep ends.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.input.listing_sweep import OutOfOrder, Sweep, SweepState, Window, window_holding
from bulkupdate.runs.account_pages import SelectionStore, last_state
from bulkupdate.runs.journal import Journal

FOREIGN_CHANGES = 12


def number(n: int) -> str:
    return f"+1312{n:07d}"  # one length: string order is numeric order


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    size=st.integers(0, 400),
    largest=st.sampled_from([12, 17, 40, 250]),
    moves_out=st.booleans(),
    others=st.booleans(),
    honest_meta=st.booleans(),
)
def test_every_number_that_matches_throughout_is_taken_exactly_once(
    data: st.DataObject,
    size: int,
    largest: int,
    moves_out: bool,
    others: bool,
    honest_meta: bool,
) -> None:
    listing = [number(2 * n) for n in range(size)]  # odd numbers are for others to add
    initial = set(listing)
    touched: set[str] = set()  # changed by somebody else
    sent: list[str] = []  # taken, their update not applied yet
    taken: list[str] = []
    sweep = Sweep(largest=largest)
    foreign = 0
    pages = 0
    while (window := sweep.next_window()) is not None:
        for _ in range(data.draw(st.integers(0, len(sent)), label="applied")):
            done = sent.pop(data.draw(st.integers(0, len(sent) - 1), label="which"))
            if moves_out and done in listing:
                listing.remove(done)
        if others and foreign < FOREIGN_CHANGES and data.draw(st.booleans(), label="other"):
            foreign += 1
            removes = data.draw(st.booleans(), label="removes")
            if listing and removes:
                gone = listing.pop(data.draw(st.integers(0, len(listing) - 1), label="at"))
                touched.add(gone)
            else:
                new = number(2 * data.draw(st.integers(0, size + 5), label="adds") + 1)
                if new not in listing:
                    bisect.insort(listing, new)
                    touched.add(new)
        total = len(listing) if honest_meta else data.draw(st.integers(0, 3 * size + 300))
        page = listing[window.start : window.start + window.size]
        got = sweep.feed(window, page, total)
        assert all(value in page for value in got)
        taken += got
        sent += got
        pages += 1
        assert pages <= 20 + 4 * size + 60 * foreign, "the sweep does not end"
    assert len(taken) == len(set(taken)), "a number was taken twice"
    missed = (initial - touched) - set(taken)
    assert not missed, f"numbers that matched throughout were never taken: {sorted(missed)[:5]}"
    assert set(taken) <= initial | touched
    assert sweep.state.taken == len(taken)


@pytest.mark.parametrize("count", [0, 1, 249, 250, 251, 8_000, 100_000])
def test_alone_it_reads_the_listing_in_a_page_and_about_8_percent_more_than_250_a_page(
    count: int,
) -> None:
    listing = [number(n) for n in range(count)]
    sweep = Sweep()
    taken: list[str] = []
    while (window := sweep.next_window()) is not None:
        got = sweep.feed(window, listing[window.start : window.start + window.size], count)
        assert got == listing[window.start : window.start + len(got)]
        del listing[window.start : window.start + len(got)]  # all moved out by their jobs
        taken += got
    assert sorted(taken) == [number(n) for n in range(count)]
    assert sweep.state.pages <= 1 + math.ceil(count / 225)
    if count < 250:
        assert sweep.state.pages == 1


def test_pages_hold_their_position_with_the_most_positions_below_it() -> None:
    assert window_holding(0) == Window(1, 1)
    assert window_holding(249) == Window(1, 250)
    assert window_holding(499) == Window(2, 250)  # 249 new, position 499 last
    for position in range(250, 5_000, 37):
        window = window_holding(position)
        assert window.start <= position < window.start + window.size <= window.start + 250
        best = max(position % size for size in range(1, 251))
        assert position - window.start == best
    assert Window(3, 100).params() == [
        ("page[number]", "3"),
        ("page[size]", "100"),
        ("sort", "phone_number"),
    ]


def test_a_page_out_of_order_stops_the_sweep() -> None:
    sweep = Sweep(SweepState(position=10, floor=number(50)))
    with pytest.raises(OutOfOrder, match=r"\+13120000001 came after \+13120000002"):
        sweep.feed(Window(1, 11), [number(2), number(1)])
    with pytest.raises(OutOfOrder):
        sweep.feed(Window(1, 11), [number(2), number(2)])  # a number listed twice


def test_a_page_read_ahead_is_recorded_only_with_its_own_chunk(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "run.journal", {"account": {"status": "active"}})
    store = SelectionStore(journal)
    sweep = Sweep()
    pages = [[number(n) for n in range(5)], [], [number(n) for n in range(5, 8)]]
    for read, page in enumerate(pages, 1):  # the engine reads a page ahead of its queue
        store.record(Window(read, 10), len(page), len(page), 8, replace(sweep.state, pages=read))
    assert last_state(journal.db) is None  # nothing durable before its chunk
    journal.read(pages[0], (), ())
    recorded = last_state(journal.db)
    assert recorded is not None
    assert recorded.pages == 2  # page 1, and the empty page 2 ...
    journal.read(pages[2], (), ())  # ... and page 3 only with its own numbers
    assert journal_rows(journal) == 3
    journal.close()


def journal_rows(journal: Journal) -> int:
    return int(journal.db.execute("SELECT COUNT(*) FROM selection_pages").fetchone()[0])
