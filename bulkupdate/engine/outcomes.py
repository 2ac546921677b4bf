"""Every input entry ends with one outcome; this module names them and adds them up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bulkupdate.input.batching import EntryKind
from bulkupdate.input.scan import Duplicate, Rejection

ErrorObject = dict[str, Any]


class OutcomeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"  # the request's filters left the number out


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input entry.

    ``value`` is the +E.164 number or id that was (or would have been) sent; a rejected
    entry has none, only its ``raw`` text. ``errors`` are the API's error objects as they
    came, or for a rejection one object that gives the reason.
    """

    status: OutcomeStatus
    value: str | None
    attempts: int = 0
    job_ids: tuple[str, ...] = ()
    errors: tuple[ErrorObject, ...] = ()
    source: str | None = None
    line: int | None = None
    raw: str | None = None

    @classmethod
    def succeeded(cls, value: str, attempts: int, job_ids: Sequence[str]) -> Outcome:
        return cls(OutcomeStatus.SUCCEEDED, value, attempts, tuple(job_ids))

    @classmethod
    def failed(
        cls, value: str, attempts: int, job_ids: Sequence[str], errors: Sequence[ErrorObject]
    ) -> Outcome:
        return cls(OutcomeStatus.FAILED, value, attempts, tuple(job_ids), tuple(errors))

    @classmethod
    def skipped(
        cls, value: str, attempts: int, job_ids: Sequence[str], why: ErrorObject
    ) -> Outcome:
        return cls(OutcomeStatus.SKIPPED, value, attempts, tuple(job_ids), (why,))

    @classmethod
    def rejected(cls, rejection: Rejection) -> Outcome:
        error = {"code": "invalid_input", "title": "Rejected", "detail": rejection.reason}
        return cls(
            OutcomeStatus.REJECTED,
            None,
            errors=(error,),
            source=rejection.source,
            line=rejection.line,
            raw=rejection.raw,
        )

    @classmethod
    def duplicate(cls, duplicate: Duplicate) -> Outcome:
        return cls(
            OutcomeStatus.DUPLICATE,
            duplicate.value,
            source=duplicate.source,
            line=duplicate.line,
        )

    @property
    def kind(self) -> EntryKind | None:
        return None if self.value is None else EntryKind.of(self.value)

    def to_json(self) -> dict[str, Any]:
        """The report row: ``phone_number`` or ``id``, status, attempts, job ids, errors."""
        row: dict[str, Any] = {}
        if self.value is None:
            row["input"] = self.raw
        else:
            row[EntryKind.of(self.value).value] = self.value
        row["status"] = self.status.value
        row["attempts"] = self.attempts
        row["job_ids"] = list(self.job_ids)
        row["errors"] = list(self.errors)
        if self.source is not None:
            row["source"] = self.source
            row["line"] = self.line
        return row


class OutcomeSink(Protocol):
    """Where outcomes go as they become final (a collector, a report file, a journal)."""

    def record(self, outcome: Outcome) -> None: ...


@dataclass(slots=True)
class Totals:
    """Counts by final status, plus what the run spent to get there."""

    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0
    retried: int = 0

    def add(self, outcome: Outcome) -> None:
        status = outcome.status
        if status is OutcomeStatus.SUCCEEDED:
            self.succeeded += 1
        elif status is OutcomeStatus.FAILED:
            self.failed += 1
        elif status is OutcomeStatus.REJECTED:
            self.rejected += 1
        elif status is OutcomeStatus.SKIPPED:
            self.skipped += 1
        else:
            self.duplicates += 1
        if outcome.attempts > 1:
            self.retried += 1

    @property
    def entries(self) -> int:
        return self.succeeded + self.failed + self.rejected + self.duplicates + self.skipped

    @property
    def all_succeeded(self) -> bool:
        """True when no entry failed or was rejected (repeats and numbers the filters
        left out do not count against it)."""
        return self.failed == 0 and self.rejected == 0

    def as_dict(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "retried": self.retried,
        }


@dataclass(slots=True)
class OutcomeCollector:
    """Keeps every outcome in memory: the library's default sink."""

    outcomes: list[Outcome] = field(default_factory=list)

    def record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
