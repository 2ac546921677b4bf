"""Reading a run's journal back: ``bulkupdate status`` and ``bulkupdate report``.

Pure rendering over ``Journal``'s read API: no event loop, no network, nothing written to
the journal. ``status_dict`` gathers the facts once; ``status_lines`` only lays them out,
so the human view and ``status --json`` can never disagree. ``write_report`` streams the
journal's report rows one at a time, because a report can hold millions of them.

The journal keeps what the input and the server said as it came; everything shown here
is escaped first (``escaping.py``), and a CSV cell a spreadsheet would run as a formula
is neutralised.

Example::

    journal = Journal.open("run.journal")
    print("\\n".join(status_lines(journal)))
    with open("report.csv", "w", newline="") as out:
        write_report(journal, out, "csv")
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol, TextIO, cast

import orjson

from bulkupdate.errors import UsageError
from bulkupdate.escaping import printable, printable_data, printable_json, spreadsheet_cell
from bulkupdate.runs.account_pages import selection_status
from bulkupdate.runs.events import format_duration
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.journal_reader import ReportRun
from bulkupdate.runs.report_columns import CSV_COLUMNS

REPORT_FORMATS = ("jsonl", "csv")
# The journal's state names, in the order a number moves through them, then the entries
# that never became numbers to send.
STATES = (
    "queued",
    "submitted",
    "retrying",
    "succeeded",
    "failed",
    "skipped",
    "rejected",
    "duplicate",
)
JOBS_SHOWN = 5
ERRORS_SHOWN = 8
LABEL = 12  # width of the label column in status_lines


def status_dict(journal: Journal) -> dict[str, Any]:
    """What the journal says about its run, as JSON-able data (``status --json``).

    Times are epoch seconds (``finished_at`` is None until the run finishes); the
    throughput is numbers that reached a final state through the API (succeeded, failed,
    skipped) over the time between the start and the last write.
    """
    status = str(journal.meta("status", "unknown"))
    started_at = _number(journal.meta("started_at"))
    updated_at = _number(journal.meta("updated_at"))
    finished_at = _number(journal.meta("finished_at")) if status == "finished" else None
    end = finished_at if finished_at is not None else updated_at
    elapsed = end - started_at if end is not None and started_at is not None else None

    counts = _counts(journal)
    final = counts["succeeded"] + counts["failed"] + counts["skipped"]
    per_second = final / elapsed if elapsed and elapsed > 0 else None
    facts: dict[str, Any] = {
        "journal": journal.path,
        "status": status,
        "started_at": started_at,
        "updated_at": updated_at,
        "finished_at": finished_at,
        "elapsed_s": elapsed,
        "values_read": journal.meta("values_read", 0),
        "counts": counts,
        "jobs_created": journal.job_count(),
        "jobs_in_flight": [
            {"id": job_id, "kind": kind, "size": size, "created_at": created_at}
            for job_id, kind, size, created_at in journal.jobs_in_flight()
        ],
        "errors": [
            {"code": code, "detail": detail, "pointer": pointer, "count": count}
            for code, detail, pointer, count in journal.error_counts()
        ],
        "throughput": {
            "final_numbers": final,
            "per_second": per_second,
            "per_hour": None if per_second is None else per_second * 3600,
        },
        "totals": journal.meta("totals"),
        "selection": selection_status(journal),  # None for a run of input files
    }
    return printable_data(facts)  # type: ignore[no-any-return]


def status_lines(journal: Journal, *, now: float | None = None) -> list[str]:
    """What ``bulkupdate status JOURNAL`` prints: short, aligned, one fact a line.

    ``now`` (epoch seconds, default the wall clock) dates "how long ago" and job ages.
    """
    facts = status_dict(journal)
    now = time.time() if now is None else now
    lines = [_row("journal", facts["journal"]), _row("status", _status_text(facts, now))]

    selection = facts["selection"]
    if selection is not None:
        lines.append(_row("listing", _selection_text(selection)))
    counts: dict[str, int] = facts["counts"]
    width = max(len(f"{count:,}") for count in counts.values())
    lines.append(_row("numbers", f"{facts['values_read']:,} read"))
    lines.extend(f"  {state:<{LABEL - 2}}{count:>{width},}" for state, count in counts.items())

    in_flight: list[dict[str, Any]] = facts["jobs_in_flight"]
    lines.append(_row("jobs", f"{facts['jobs_created']:,} created, {len(in_flight):,} in flight"))
    for job in in_flight[:JOBS_SHOWN]:
        age = format_duration(max(0.0, now - job["created_at"]))
        size = f"{job['size']:,} number" + ("" if job["size"] == 1 else "s")
        lines.append(f"  {job['id']}  {job['kind']} of {size}, {age} old")
    if len(in_flight) > JOBS_SHOWN:
        lines.append(f"  … and {len(in_flight) - JOBS_SHOWN:,} more")

    errors: list[dict[str, Any]] = facts["errors"]
    if errors:
        lines.append("failed numbers by error:")
        for error in errors[:ERRORS_SHOWN]:
            where = f" at {error['pointer']}" if error["pointer"] else ""
            text = f"{error['code']} {error['detail']}".strip() or "(no error given)"
            lines.append(f"  {error['count']:,} × {text}{where}")
        if len(errors) > ERRORS_SHOWN:
            lines.append(f"  … and {len(errors) - ERRORS_SHOWN:,} more kinds")

    lines.append(_row("throughput", _throughput_text(facts)))
    return lines


def write_report(journal: Journal, out: BinaryIO | TextIO, fmt: str) -> int:
    """Write one report row per input entry to ``out``; returns the rows written.

    ``jsonl`` writes ``Journal.report_rows()``'s objects as they are, one a line. ``csv``
    writes a header and flattens each row to ``CSV_COLUMNS``: job ids and error codes
    joined with ``;``, error details with `` | ``. ``out`` may be a text or a binary
    stream (UTF-8 is written to a binary one). Rows stream from the journal one at a
    time, so memory does not grow with the report.
    """
    if fmt not in REPORT_FORMATS:
        raise UsageError(f"report format {fmt!r}: use one of {', '.join(REPORT_FORMATS)}")
    if isinstance(out, io.TextIOBase):
        text = cast(TextIO, out)
        if fmt == "jsonl":
            return _write_jsonl(journal.report_runs(), lambda data: text.write(data.decode()))
        return _write_csv(journal.report_rows(), text)
    binary = cast(BinaryIO, out)
    if fmt == "jsonl":
        return _write_jsonl(journal.report_runs(), binary.write)
    return _write_csv(journal.report_rows(), _Utf8(binary))


# -- helpers ---------------------------------------------------------------------------


def _counts(journal: Journal) -> dict[str, int]:
    found = dict(journal.counts())
    counts = {state: found.pop(state, 0) for state in STATES}
    counts.update(found)  # a state this module does not know yet still shows
    return counts


def _status_text(facts: dict[str, Any], now: float) -> str:
    status = facts["status"]
    started, updated = facts["started_at"], facts["updated_at"]
    if status == "finished" and facts["finished_at"] is not None:
        took = format_duration(facts["elapsed_s"] or 0.0)
        return f"finished {_when(facts['finished_at'])}, after {took}"
    if status == "interrupted" and updated is not None:
        return f"interrupted {_when(updated)}; started {_when(started)}"
    if status == "running" and started is not None:
        # A journal left "running" by a process that was killed reads the same as a live
        # run; the age of its last write is what tells them apart.
        ago = format_duration(max(0.0, now - updated)) if updated is not None else "?"
        return f"running since {_when(started)}; last written {ago} ago"
    return str(status)


def _selection_text(selection: dict[str, Any]) -> str:
    """How far the account's listing has been read (``--from-account``)."""
    filters = " and ".join(f"{name}={value}" for name, value in selection["filters"].items())
    pages, listed = selection["pages_read"], selection["numbers_listed"]
    read = f"{pages:,} page{'' if pages == 1 else 's'} read, {listed:,} numbers listed"
    if selection["done"]:
        read += ", all of them"
    elif selection["matched_at_start"] is not None:
        share = (
            min(1.0, listed / selection["matched_at_start"])
            if selection["matched_at_start"]
            else 1.0
        )
        read += f" of {selection['matched_at_start']:,} that matched at the start ({share:.0%})"
    return f"GET /phone_numbers where {filters}: {read}"


def _throughput_text(facts: dict[str, Any]) -> str:
    throughput = facts["throughput"]
    final = throughput["final_numbers"]
    if throughput["per_second"] is None:
        return f"{final:,} final numbers; no time elapsed yet"
    took = format_duration(facts["elapsed_s"])
    return (
        f"{_rate(throughput['per_second'])} numbers/s, {throughput['per_hour']:,.0f}/h "
        f"({final:,} final numbers in {took})"
    )


def _rate(per_second: float) -> str:
    # Three significant figures: a slow run's 0.07/s must not read as 0.1 or 0.
    return f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:.3g}"


def _row(label: str, value: str) -> str:
    return f"{label:<{LABEL}}{value}"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _write_jsonl(
    items: Iterator[ReportRun | dict[str, Any]], write: Callable[[bytes], object]
) -> int:
    written = 0
    for item in items:
        if not isinstance(item, ReportRun):
            write(printable_json(item, orjson.OPT_APPEND_NEWLINE))
            written += 1
        elif (lines := _jsonl_run(item)) is not None:
            write(lines)
            written += len(item.values)
        else:
            written += _write_jsonl(item.rows(), write)
    return written


def _jsonl_run(run: ReportRun) -> bytes | None:
    """The JSON lines of a run's rows in one join: exactly what ``printable_json`` makes
    of each row, or None when a value would need escaping (then row by row).

    Our numbers and ids are a "+" and digits; only the job id came from outside, and it
    is escaped once for the run.
    """
    values = run.values
    text = "".join(values)
    if not text.isprintable() or '"' in text or "\\" in text:
        return None
    job_ids = ",".join(orjson.dumps(printable(job_id)).decode() for job_id in run.job_ids)
    head = f'{{"{run.key}":"'
    tail = (
        f'","status":"{run.status}","attempts":{run.attempts},"job_ids":[{job_ids}],"errors":[]}}\n'
    )
    return (head + (tail + head).join(values) + tail).encode()


def _write_csv(rows: Iterator[dict[str, Any]], out: _TextSink) -> int:
    # "\n", not csv's default "\r\n": the report is read by line-based tools as often as
    # by spreadsheets, and every CSV reader accepts either.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    written = 0
    for row in rows:
        errors = [error for error in row.get("errors", ()) if isinstance(error, dict)]
        writer.writerow(
            (
                row.get("phone_number", ""),  # +E.164 or an id of digits: ours
                row.get("id", ""),
                _cell(row.get("input", "")),  # the input's text, and what came from the server
                row.get("status", ""),
                row.get("attempts", ""),
                _cell(";".join(row.get("job_ids", ()))),
                _cell(";".join(str(error.get("code", "")) for error in errors)),
                _cell(
                    " | ".join(
                        str(error.get("detail") or error.get("title") or "") for error in errors
                    )
                ),
                _cell(row.get("source", "")),
                row.get("line", ""),
            )
        )
        written += 1
    return written


def _cell(text: str | None) -> str:
    return spreadsheet_cell(printable(text)) if text else ""


class _TextSink(Protocol):
    def write(self, text: str, /) -> object: ...


class _Utf8:
    """A binary stream seen as a text one, for csv.writer."""

    __slots__ = ("_out",)

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.encode())
