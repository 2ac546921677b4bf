"""Every number's state, read back from a journal that keeps no row per number.

The journal (``journal.py``) records a job's numbers as ranges of their ``seq`` (their
place among the input's distinct numbers), and gives a number a row of its own only
when its story is not its job's: it failed, went again, or was skipped. A number's state
follows: its exception row if it has one, else its last job's (finished: succeeded;
running: submitted; none: queued).

``View`` lays the jobs' ranges over an array of the numbers, one C-level slice per
range, and cuts the numbers into *segments*: runs of consecutive seqs that share a job
and have no exception row. Counting the states and writing a report then cost a step per
segment (a few per job), not per number.
"""

from __future__ import annotations

import bisect
import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from itertools import groupby
from operator import lt
from typing import Any

import orjson

from bulkupdate.api.wire import ErrorObject


class NumberState(IntEnum):
    QUEUED = 0
    SUBMITTED = 1
    RETRY = 2
    SUCCEEDED = 3
    FAILED = 4
    SKIPPED = 5

    @property
    def is_final(self) -> bool:
        return self >= NumberState.SUCCEEDED

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    NumberState.QUEUED: "queued",
    NumberState.SUBMITTED: "submitted",
    NumberState.RETRY: "retrying",
    NumberState.SUCCEEDED: "succeeded",
    NumberState.FAILED: "failed",
    NumberState.SKIPPED: "skipped",
}


@dataclass(slots=True)
class Note:
    """A number's exception row: what its job does not tell."""

    state: NumberState
    attempts: int
    jobs: list[int]
    errors: list[ErrorObject]


@dataclass(slots=True)
class View:
    """Every number's last job and exception, to derive states from."""

    job_of: array[int]  # seq → jobs.job of the last job it was in, 0 if none
    job_ids: dict[int, str]
    running: set[int]
    exceptions: dict[int, Note]
    cuts: list[int]  # where a segment may start: sorted, from 0 to the numbers read

    @classmethod
    def read(cls, db: sqlite3.Connection, numbers: int) -> View:
        job_of = array("q", bytes(8 * numbers))
        job_ids: dict[int, str] = {}
        running: set[int] = set()
        cuts = {0, numbers}
        for row, job_id, seqs, status in db.execute(
            "SELECT job, id, seqs, status FROM jobs ORDER BY job"
        ):
            job_ids[row] = job_id
            if status is None:
                running.add(row)
            for first, last in seq_ranges(seqs):
                if last >= numbers:
                    raise IndexError(f"job {job_id} holds seq {last}, past the {numbers} read")
                # Later jobs win: the last job a number was in. One slice per range.
                job_of[first : last + 1] = array("q", (row,)) * (last + 1 - first)
                cuts.update((first, last + 1))
        exceptions = {
            seq: Note(
                NumberState(state),
                attempts,
                [int(job) for job in jobs.split(",") if job],
                orjson.loads(errors) if errors else [],
            )
            for seq, state, attempts, jobs, errors in db.execute(
                "SELECT seq, state, attempts, jobs, errors FROM exceptions"
            )
        }
        for seq in exceptions:
            cuts.update((seq, seq + 1))
        return cls(job_of, job_ids, running, exceptions, sorted(cuts))

    def state_of(self, seq: int) -> NumberState:
        note = self.exceptions.get(seq)
        if note is not None:
            return note.state
        return self.job_state(self.job_of[seq])

    def job_state(self, job: int) -> NumberState:
        """The state of a number with no exception row whose last job is ``job``."""
        if not job:
            return NumberState.QUEUED
        return NumberState.SUBMITTED if job in self.running else NumberState.SUCCEEDED

    def segments(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        """The seqs from ``start`` to ``stop`` as runs ``[a, b)`` of one job each, with
        no exception row, or of a single number that has one."""
        cuts = self.cuts
        at = start
        for cut in cuts[bisect.bisect_right(cuts, start) : bisect.bisect_left(cuts, stop)]:
            yield at, cut
            at = cut
        if at < stop:
            yield at, stop

    def counts(self) -> dict[NumberState, int]:
        """How many numbers are in each state."""
        found = dict.fromkeys(NumberState, 0)
        for start, stop in self.segments(0, len(self.job_of)):
            found[self.state_of(start)] += stop - start
        return found


@dataclass(frozen=True, slots=True)
class ReportRun:
    """The report rows of consecutive numbers of one kind whose story is their last
    job's: rows that differ only in the number."""

    key: str  # "phone_number" or "id"
    values: list[str]
    status: str
    attempts: int
    job_ids: list[str]

    @classmethod
    def of(
        cls, values: list[str], status: str, attempts: int, job_ids: list[str]
    ) -> Iterator[ReportRun]:
        """The runs of ``values``: one, unless numbers and ids are mixed."""
        # A number starts with "+" and holds no other: counted in C.
        numbers = "\n".join(values).count("\n+") + values[0].startswith("+")
        if numbers in (0, len(values)):
            yield cls("phone_number" if numbers else "id", values, status, attempts, job_ids)
            return
        for is_number, group in groupby(values, key=lambda value: value.startswith("+")):
            key = "phone_number" if is_number else "id"
            yield cls(key, list(group), status, attempts, job_ids)

    def rows(self) -> Iterator[dict[str, Any]]:
        for value in self.values:
            yield {
                self.key: value,
                "status": self.status,
                "attempts": self.attempts,
                "job_ids": list(self.job_ids),
                "errors": [],
            }


def seq_ranges(text: str) -> Iterator[tuple[int, int]]:
    """The ``(first, last)`` ranges of ``encode_seqs``' text."""
    for part in text.split(","):
        if part:
            first, _, last = part.partition("-")
            yield int(first), int(last or first)


def encode_seqs(seqs: Iterable[int]) -> str:
    """Seqs as ranges, ``0-999,1204``: a fresh batch is one range."""
    if isinstance(seqs, range) and seqs.step == 1 and seqs:  # one run, known as one
        return str(seqs[0]) if len(seqs) == 1 else f"{seqs[0]}-{seqs[-1]}"
    found = seqs if isinstance(seqs, list | tuple) else list(seqs)
    if found and found[-1] - found[0] == len(found) - 1 and all(map(lt, found, found[1:])):
        return str(found[0]) if len(found) == 1 else f"{found[0]}-{found[-1]}"  # checked in C
    parts: list[str] = []
    start = previous = -2
    for seq in found:
        if seq == previous + 1:
            previous = seq
            continue
        if start >= 0:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = seq
    if start >= 0:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def decode_seqs(text: str) -> list[int]:
    seqs: list[int] = []
    for first, last in seq_ranges(text):
        seqs.extend(range(first, last + 1))
    return seqs
