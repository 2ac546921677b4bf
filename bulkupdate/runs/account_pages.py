"""The selection in the journal: every page of the account's listing a run has read.

A run that takes its numbers from ``GET /phone_numbers`` (``--from-account``) keeps the sweep's
progress (``input/listing_sweep.py``) in a table of its own in the run's journal, one row per
page read, with the sweep's state after it. A resumed run carries on from the last row: no page
it has is read again, and the numbers already taken are in the journal's chunks like any
input's.

A page that gave numbers is written in the same transaction as the chunk that queues
them (``Journal.beside_read``), so a kill leaves both or neither: a page whose numbers
were never queued is read again, and a queued number is never listed twice. The engine
may read a page ahead of the chunk it is queueing, so pages wait in order: each chunk
written takes the rows up to its own page, and those after it that gave no numbers. A
page that gave none, with nothing waiting before it, is written as soon as it is read.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections import deque
from typing import Any

import orjson

from bulkupdate.input.listing_sweep import SweepState, Window
from bulkupdate.runs.journal import Journal

SCHEMA = """
CREATE TABLE IF NOT EXISTS selection_pages (  -- GET /phone_numbers pages read, in order
    page INTEGER PRIMARY KEY,
    number INTEGER NOT NULL,      -- page[number]
    size INTEGER NOT NULL,        -- page[size]
    listed INTEGER NOT NULL,      -- numbers the page held
    taken INTEGER NOT NULL,       -- of those, new to the run
    matching INTEGER,             -- how many matched then (the listing's meta.total_results)
    state TEXT NOT NULL,          -- the sweep's state after the page (JSON)
    read_at REAL NOT NULL
);
"""
_INSERT = (
    "INSERT INTO selection_pages (number, size, listed, taken, matching, state, read_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

Row = tuple[int, int, int, int, int | None, str, float]


class SelectionStore:
    """Where a run's sweep over the account's listing is recorded, in its journal."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        # Pages read whose rows wait for the chunks before theirs, in order; the flag says
        # whether the page gave a chunk of its own.
        self._waiting: deque[tuple[Row, bool]] = deque()
        with journal.db as db:
            db.executescript(SCHEMA)
        journal.beside_read = self._beside_read

    def __repr__(self) -> str:
        return f"<SelectionStore {self._journal.path}>"

    def state(self) -> SweepState:
        """The sweep's state after the last page recorded (a fresh sweep if none)."""
        return last_state(self._journal.db) or SweepState()

    def record(
        self, window: Window, listed: int, taken: int, matching: int | None, state: SweepState
    ) -> None:
        """A page was read: with numbers ``taken``, written with the chunk that queues
        them (a later ``Journal.read``); without, as soon as every page before it is."""
        row = (window.number, window.size, listed, taken, matching, _encode(state), time.time())
        if taken or self._waiting:
            self._waiting.append((row, bool(taken)))
            return
        with self._journal.db as db:
            db.execute(_INSERT, row)

    def _beside_read(self, db: sqlite3.Connection) -> None:
        """A chunk is being written: so is its page, and the empty pages after it."""
        if not self._waiting:
            return
        row, _ = self._waiting.popleft()  # the head always gave a chunk: this one
        db.execute(_INSERT, row)
        while self._waiting and not self._waiting[0][1]:
            db.execute(_INSERT, self._waiting.popleft()[0])


def last_state(db: sqlite3.Connection) -> SweepState | None:
    """The sweep's state after the last page recorded; None for a run of input files."""
    try:
        row = db.execute("SELECT state FROM selection_pages ORDER BY page DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # no such table: the run read files
        return None
    return None if row is None else SweepState(**orjson.loads(row[0]))


def selection_status(journal: Journal) -> dict[str, Any] | None:
    """How far the run has read the account's listing (for ``status``); None if it reads
    files."""
    filters = journal.settings.get("account")
    if not isinstance(filters, dict):
        return None
    state = last_state(journal.db) or SweepState()
    matching = None
    if state.pages:
        matching = journal.db.execute(
            "SELECT matching FROM selection_pages ORDER BY page DESC LIMIT 1"
        ).fetchone()[0]
    return {
        "filters": filters,
        "pages_read": state.pages,
        "numbers_listed": state.taken,
        "matched_at_start": state.total,
        "matching_at_last_page": matching,
        "done": state.done,
    }


def _encode(state: SweepState) -> str:
    return orjson.dumps(dataclasses.asdict(state)).decode()
