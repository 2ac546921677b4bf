"""What ``bulkupdate status`` and ``report`` ask of a journal: counts, errors, report rows.

The reading half of ``Journal``; ``journal.py`` writes, and makes the resume state. These
methods only read, through the connection and the number of values the journal holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from bulkupdate.errors import error_key
from bulkupdate.runs.journal_reader import NumberState, ReportRun, View


class JournalQueries:
    """Read-only questions to one run's journal; ``Journal`` is the class to use."""

    _next_seq: int

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection the questions go through (``Journal`` holds it)."""
        raise NotImplementedError

    @property
    def db(self) -> sqlite3.Connection:
        """The journal's connection, for a module that keeps a table of its own in it."""
        return self._db

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else orjson.loads(row[0])

    @property
    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.meta("settings", {})
        return settings

    @property
    def finished(self) -> bool:
        return bool(self.meta("status") == "finished")

    def counts(self) -> dict[str, int]:
        """Numbers by state and entries by status."""
        found = {state.label: count for state, count in self._view().counts().items()}
        for status, count in self._db.execute("SELECT status, COUNT(*) FROM entries GROUP BY 1"):
            found[status] = count
        return found

    def error_counts(self) -> list[tuple[str, str, str, int]]:
        """Failed numbers by their first error: (code, detail, pointer, count), most first."""
        counts: dict[tuple[str, str, str], int] = {}
        for errors, count in self._db.execute(
            "SELECT errors, COUNT(*) FROM exceptions WHERE state = 4 GROUP BY errors"
        ):
            found = orjson.loads(errors) if errors else []
            key = error_key(found[0] if found and isinstance(found[0], dict) else {})
            counts[key] = counts.get(key, 0) + count
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        return [(*key, count) for key, count in ranked]

    def jobs_in_flight(self) -> list[tuple[str, str, int, float]]:
        """Jobs submitted and not seen to end: (id, kind, size, created_at)."""
        return list(
            self._db.execute(
                "SELECT id, kind, size, created_at FROM jobs WHERE status IS NULL ORDER BY job"
            )
        )

    def retried_count(self) -> int:
        """Numbers that needed more than one job."""
        return int(
            self._db.execute("SELECT COUNT(*) FROM exceptions WHERE attempts > 1").fetchone()[0]
        )

    def rejections(self, limit: int) -> list[tuple[str, int, str, str]]:
        """The first rejected entries: (source, line, raw text, reason)."""
        return list(
            self._db.execute(
                "SELECT source, line, raw, reason FROM entries WHERE status = 'rejected' "
                "ORDER BY source, line LIMIT ?",
                (limit,),
            )
        )

    def job_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    def report_rows(self) -> Iterator[dict[str, Any]]:
        """One report object per input entry known to the journal (``run --report``'s shape)."""
        for item in self.report_runs():
            if isinstance(item, ReportRun):
                yield from item.rows()
            else:
                yield item

    def report_runs(self) -> Iterator[ReportRun | dict[str, Any]]:
        """``report_rows``, with the rows of consecutive numbers that differ only in the
        number (their story is their job's) given together, as a ``ReportRun``."""
        view = self._view()
        for first_seq, numbers in self._db.execute(
            "SELECT first_seq, numbers FROM chunks ORDER BY chunk"
        ):
            values = numbers.split("\n")
            for start, stop in view.segments(first_seq, first_seq + len(values)):
                note = view.exceptions.get(start)
                if note is None:
                    job = view.job_of[start]
                    yield from ReportRun.of(
                        values[start - first_seq : stop - first_seq],
                        view.job_state(job).label,
                        1 if job else 0,
                        [view.job_ids[job]] if job else [],
                    )
                    continue
                value = values[start - first_seq]
                yield {
                    "phone_number" if value.startswith("+") else "id": value,
                    "status": note.state.label,
                    "attempts": note.attempts,
                    "job_ids": [view.job_ids[job] for job in note.jobs if job in view.job_ids],
                    "errors": note.errors if note.state is not NumberState.SUCCEEDED else [],
                }
        for source, line, status, value, raw, reason in self._db.execute(
            "SELECT source, line, status, value, raw, reason FROM entries ORDER BY source, line"
        ):
            row: dict[str, Any] = {}
            if value is None:
                row["input"] = raw
            else:
                row["phone_number" if value.startswith("+") else "id"] = value
            row.update(status=status, attempts=0, job_ids=[], source=source, line=line)
            row["errors"] = (
                [{"code": "invalid_input", "title": "Rejected", "detail": reason}] if reason else []
            )
            yield row

    # -- internals -------------------------------------------------------------------

    def _view(self) -> View:
        return View.read(self._db, self._next_seq)
