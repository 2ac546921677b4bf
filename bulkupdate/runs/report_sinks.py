"""Outcome sinks for reports and summaries.

``JsonlReport`` streams one JSON object per input entry to a file as outcomes become
final, so a million-number report never sits in memory (a library caller passes it as
``sink=``; the command writes its report from the journal). ``SummarySink`` keeps only
what a summary needs: counts of errors by kind and the first few rejections.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from bulkupdate.engine.outcomes import Outcome, OutcomeStatus, Totals
from bulkupdate.errors import UsageError, error_key
from bulkupdate.escaping import printable_json

EXAMPLES_SHOWN = 5


class JsonlReport:
    """Writes each outcome as a line of JSON to ``path``, control characters escaped."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._file: IO[bytes] = open(self.path, "wb")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"--report {self.path}: cannot be written ({exc.strerror})") from exc
        self.rows = 0

    def __repr__(self) -> str:
        return f"<JsonlReport {self.path} rows={self.rows}>"

    def record(self, outcome: Outcome) -> None:
        self._file.write(printable_json(outcome.to_json(), orjson.OPT_APPEND_NEWLINE))
        self.rows += 1

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True)
class SummarySink:
    """Error counts by (code, detail, pointer) and the first rejections and failures."""

    totals: Totals = field(default_factory=Totals)
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    rejections: list[Outcome] = field(default_factory=list)
    failures: list[Outcome] = field(default_factory=list)

    def record(self, outcome: Outcome) -> None:
        self.totals.add(outcome)
        if outcome.status is OutcomeStatus.REJECTED:
            if len(self.rejections) < EXAMPLES_SHOWN:
                self.rejections.append(outcome)
        elif outcome.status is OutcomeStatus.FAILED:
            if len(self.failures) < EXAMPLES_SHOWN:
                self.failures.append(outcome)
            for error in outcome.errors[:1]:
                self.errors[error_key(error)] += 1
