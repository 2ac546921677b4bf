"""Reading a journal back: `status` for people and for --json, reports as JSONL and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

import bulkupdate.runs.journal as journal_module
from bulkupdate.api.wire import ErrorObject
from bulkupdate.errors import UsageError
from bulkupdate.input.scan import Duplicate, Rejection
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.report_columns import CSV_COLUMNS
from bulkupdate.runs.status_and_report import (
    STATES,
    status_dict,
    status_lines,
    write_report,
)

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
N = ["+13125550100", "+13125550101", "+13125550102", "+13125550103"]
ID = "1583466971586889004"
LATE = ["+13125550104", "+13125550105"]  # N[4], N[5] in input order after ID
VALUES = [*N, ID, *LATE]

INVALID: ErrorObject = {
    "code": "10015",
    "title": "Bad Request",
    "detail": "The field is invalid.",
    "source": {"pointer": "/voice/call_forwarding"},
}
MISSING: ErrorObject = {"code": "10005", "title": "Resource not found"}
TIMEOUT: ErrorObject = {"code": "10008", "detail": "Request timeout"}
NOT_OWNED: ErrorObject = {"code": "not_owned", "detail": "not a number of this account"}


class FakeTime:
    """Stands in for the time module inside bulkupdate.runs.journal, so its stamps are fixed."""

    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(journal_module, "time", fake)
    return fake


def unfinished(tmp_path: Path, clock: FakeTime) -> Journal:
    """Seven numbers, a rejected line and a repeat, 40 s into the run:

    job-1 (created at +10 s, ended at +40 s): N0 succeeded, N1 failed for good, N2 back to
    retry, LATE[0] skipped by the filters; job-2 (created at +40 s) holds N3 and runs;
    ID failed outside any job; LATE[1] is still queued.
    """
    journal = Journal.create(tmp_path / "run.journal", settings={"kind": "update"})
    journal.read(
        VALUES,
        [Rejection("in.txt", 6, "hello", "not a phone number")],
        [Duplicate("in.txt", 9, N[0])],
    )
    clock.now = T0 + 10
    first = [N[0], N[1], N[2], LATE[0]]
    post = journal.posting("update", first, "2023-11-14T22:13:30Z")
    journal.posted(post, "job-1", "update", first)
    clock.now = T0 + 40
    journal.settled(
        "job-1",
        "successful",
        succeeded=[N[0]],
        failed=[(N[1], [INVALID, MISSING])],
        retry=[(N[2], [TIMEOUT])],
        skipped=[LATE[0]],
    )
    journal.posted(None, "job-2", "update", [N[3]])
    journal.failed([ID], [NOT_OWNED])
    return journal


def finished(tmp_path: Path, clock: FakeTime) -> Journal:
    """The same run carried to its end at +100 s: job-2 and job-3 (N2, LATE[1]) succeed."""
    journal = unfinished(tmp_path, clock)
    clock.now = T0 + 60
    journal.settled("job-2", "successful", [N[3]], [], [], [])
    journal.posted(None, "job-3", "update", [N[2], LATE[1]])
    clock.now = T0 + 100
    journal.settled("job-3", "successful", [N[2], LATE[1]], [], [], [])
    journal.finish("finished", {"entries": 9, "succeeded": 4, "failed": 2})
    return journal


def line_with(lines: list[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


# -- status ----------------------------------------------------------------------------


def test_status_of_an_unfinished_run(tmp_path: Path, clock: FakeTime) -> None:
    lines = status_lines(unfinished(tmp_path, clock), now=T0 + 100)

    assert line_with(lines, "status ") == (
        "status      running since 2023-11-14 22:13:20 UTC; last written 1m ago"
    )
    counts = {state: line_with(lines, f"  {state} ").split()[-1] for state in STATES}
    assert counts == {
        "queued": "1",
        "submitted": "1",
        "retrying": "1",
        "succeeded": "1",
        "failed": "2",
        "skipped": "1",
        "rejected": "1",
        "duplicate": "1",
    }
    assert line_with(lines, "numbers ") == "numbers     7 read"
    assert line_with(lines, "jobs ") == "jobs        2 created, 1 in flight"
    assert line_with(lines, "  job-2") == "  job-2  update of 1 number, 1m old"
    # One line per first error, with its pointer when the API gave one.
    errors = lines[lines.index("failed numbers by error:") + 1 :][:2]
    assert sorted(errors) == [
        "  1 × 10015 The field is invalid. at /voice/call_forwarding",
        "  1 × not_owned not a number of this account",
    ]
    # Four numbers final (succeeded, failed, skipped; ID failed outside a job too) in the
    # 40 s between the start and the last settled job.
    assert line_with(lines, "throughput ") == (
        "throughput  0.1 numbers/s, 360/h (4 final numbers in 40.0s)"
    )


def test_counts_are_aligned_in_one_column(tmp_path: Path, clock: FakeTime) -> None:
    journal = unfinished(tmp_path, clock)
    journal.read([f"+1312555{n:04d}" for n in range(2000, 3500)], [], [])
    lines = status_lines(journal, now=T0 + 100)
    rows = [line_with(lines, f"  {state} ") for state in STATES]
    assert len({len(row) for row in rows}) == 1
    assert line_with(lines, "  queued ").endswith(" 1,501")


def test_status_of_a_finished_run_read_back_from_disk(tmp_path: Path, clock: FakeTime) -> None:
    finished(tmp_path, clock).close()
    journal = Journal.open(tmp_path / "run.journal")
    lines = status_lines(journal, now=T0 + 5000)

    assert line_with(lines, "status ") == (
        "status      finished 2023-11-14 22:15:00 UTC, after 1m 40s"
    )
    assert line_with(lines, "jobs ") == "jobs        3 created, 0 in flight"
    assert line_with(lines, "throughput ") == (
        "throughput  0.07 numbers/s, 252/h (7 final numbers in 1m 40s)"
    )
    assert line_with(lines, "  succeeded ").split()[-1] == "4"


def test_status_of_an_interrupted_run(tmp_path: Path, clock: FakeTime) -> None:
    journal = unfinished(tmp_path, clock)
    clock.now = T0 + 45
    journal.finish("interrupted")
    lines = status_lines(journal, now=T0 + 3600)
    assert line_with(lines, "status ") == (
        "status      interrupted 2023-11-14 22:14:05 UTC; started 2023-11-14 22:13:20 UTC"
    )
    # Throughput counts up to the last write, not up to when someone asks.
    assert line_with(lines, "throughput ").endswith("(4 final numbers in 45.0s)")


def test_status_of_a_run_that_has_not_settled_anything(tmp_path: Path, clock: FakeTime) -> None:
    journal = Journal.create(tmp_path / "run.journal", settings={})
    lines = status_lines(journal, now=T0)
    assert line_with(lines, "throughput ") == "throughput  0 final numbers; no time elapsed yet"
    assert "failed numbers by error:" not in lines


def test_many_jobs_in_flight_show_the_first_few(tmp_path: Path, clock: FakeTime) -> None:
    journal = Journal.create(tmp_path / "run.journal", settings={})
    numbers = [f"+1312555{n:04d}" for n in range(8)]
    journal.read(numbers, [], [])
    for n, number in enumerate(numbers):
        journal.posted(None, f"job-{n}", "update", [number])
    lines = status_lines(journal, now=T0 + 1)
    assert [line.split()[0] for line in lines if line.startswith("  job-")] == [
        f"job-{n}" for n in range(5)
    ]
    assert "  … and 3 more" in lines


def test_status_dict_is_the_same_facts_as_plain_data(tmp_path: Path, clock: FakeTime) -> None:
    facts = status_dict(unfinished(tmp_path, clock))

    assert orjson.loads(orjson.dumps(facts)) == facts
    assert set(facts) == {
        "journal",
        "status",
        "started_at",
        "updated_at",
        "finished_at",
        "elapsed_s",
        "values_read",
        "counts",
        "jobs_created",
        "jobs_in_flight",
        "errors",
        "throughput",
        "totals",
        "selection",
    }
    assert facts["selection"] is None  # a run of input files reads no listing
    assert facts["journal"] == str(tmp_path / "run.journal")
    assert (facts["status"], facts["started_at"], facts["updated_at"]) == ("running", T0, T0 + 40)
    assert (facts["finished_at"], facts["elapsed_s"], facts["totals"]) == (None, 40.0, None)
    assert list(facts["counts"]) == list(STATES)
    assert facts["counts"]["failed"] == 2
    assert facts["jobs_in_flight"] == [
        {"id": "job-2", "kind": "update", "size": 1, "created_at": T0 + 40}
    ]
    assert {"code": "10015", "detail": "The field is invalid."}.items() <= facts["errors"][
        0
    ].items()
    assert facts["throughput"] == {"final_numbers": 4, "per_second": 0.1, "per_hour": 360.0}


def test_status_dict_of_a_finished_run_carries_its_totals(tmp_path: Path, clock: FakeTime) -> None:
    facts = status_dict(finished(tmp_path, clock))
    assert (facts["status"], facts["finished_at"], facts["elapsed_s"]) == (
        "finished",
        T0 + 100,
        100.0,
    )
    assert facts["totals"] == {"entries": 9, "succeeded": 4, "failed": 2}
    assert facts["jobs_in_flight"] == []


# -- report ----------------------------------------------------------------------------


def test_jsonl_report_is_the_journal_rows_as_they_are(tmp_path: Path, clock: FakeTime) -> None:
    journal = finished(tmp_path, clock)
    out = io.BytesIO()
    assert write_report(journal, out, "jsonl") == 9
    rows = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert rows == list(journal.report_rows())
    assert [row.get("phone_number", row.get("id", row.get("input"))) for row in rows] == [
        *VALUES,
        "hello",
        N[0],
    ]


def test_jsonl_report_to_a_text_stream(tmp_path: Path, clock: FakeTime) -> None:
    journal = finished(tmp_path, clock)
    text, binary = io.StringIO(), io.BytesIO()
    assert write_report(journal, text, "jsonl") == write_report(journal, binary, "jsonl")
    assert text.getvalue().encode() == binary.getvalue()


def test_csv_report_flattens_each_row(tmp_path: Path, clock: FakeTime) -> None:
    journal = finished(tmp_path, clock)
    out = io.StringIO()
    assert write_report(journal, out, "csv") == 9

    reader = csv.DictReader(io.StringIO(out.getvalue()))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    rows = list(reader)
    assert len(rows) == 9
    by_place = {(row["phone_number"], row["id"], row["input"], row["status"]): row for row in rows}

    failed = by_place[(N[1], "", "", "failed")]
    assert (failed["attempts"], failed["job_ids"]) == ("1", "job-1")
    assert failed["error_codes"] == "10015;10005"
    # The detail where the API gave one, else the title.
    assert failed["error_details"] == "The field is invalid. | Resource not found"
    assert (failed["source"], failed["line"]) == ("", "")

    retried = by_place[(N[2], "", "", "succeeded")]
    assert (retried["attempts"], retried["job_ids"], retried["error_codes"]) == (
        "2",
        "job-1;job-3",
        "",
    )

    not_owned = by_place[("", ID, "", "failed")]
    assert (not_owned["attempts"], not_owned["job_ids"]) == ("1", "")
    assert not_owned["error_codes"] == "not_owned"

    rejected = by_place[("", "", "hello", "rejected")]
    assert (rejected["source"], rejected["line"]) == ("in.txt", "6")
    assert (rejected["error_codes"], rejected["error_details"]) == (
        "invalid_input",
        "not a phone number",
    )

    repeat = by_place[(N[0], "", "", "duplicate")]
    assert (repeat["source"], repeat["line"], repeat["attempts"]) == ("in.txt", "9", "0")

    assert by_place[(LATE[0], "", "", "skipped")]["job_ids"] == "job-1"


def test_csv_report_to_a_binary_stream_is_utf8(tmp_path: Path, clock: FakeTime) -> None:
    journal = Journal.create(tmp_path / "run.journal", settings={})
    journal.read([], [Rejection("ü.txt", 1, "☎ call me", "not a phone number")], [])
    text, binary = io.StringIO(), io.BytesIO()
    assert write_report(journal, binary, "csv") == write_report(journal, text, "csv") == 1
    assert binary.getvalue().decode("utf-8") == text.getvalue()
    assert "☎ call me" in text.getvalue()


def test_report_of_an_empty_journal_is_only_a_header(tmp_path: Path, clock: FakeTime) -> None:
    journal = Journal.create(tmp_path / "run.journal", settings={})
    out = io.StringIO()
    assert write_report(journal, out, "csv") == 0
    assert out.getvalue() == ",".join(CSV_COLUMNS) + "\n"
    assert write_report(journal, io.BytesIO(), "jsonl") == 0


def test_an_unknown_report_format_is_a_usage_error(tmp_path: Path, clock: FakeTime) -> None:
    journal = Journal.create(tmp_path / "run.journal", settings={})
    with pytest.raises(UsageError, match="use one of jsonl, csv"):
        write_report(journal, io.BytesIO(), "xlsx")


class StreamingJournal:
    """report_rows checks, before giving each row, that the previous one is written."""

    def __init__(self, out: io.StringIO, rows: int) -> None:
        self.out = out
        self.rows = rows

    def report_rows(self) -> Iterator[dict[str, Any]]:
        for n in range(self.rows):
            assert self.out.getvalue().count("\n") == n + 1  # the header, then n rows
            yield {"phone_number": f"+1312555{n:04d}", "status": "succeeded", "errors": []}

    def report_runs(self) -> Iterator[dict[str, Any]]:
        return self.report_rows()  # what the JSON Lines writer reads: rows, and runs of them


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_reports_stream_row_by_row(fmt: str) -> None:
    out = io.StringIO()
    if fmt == "jsonl":
        out.write("(no header)\n")  # keeps the line arithmetic the same for both
    journal = cast(Journal, StreamingJournal(out, rows=50))
    assert write_report(journal, out, fmt) == 50


def test_a_jsonl_report_sink_streams_outcomes_as_they_come(tmp_path: Path) -> None:
    from bulkupdate.engine.outcomes import Outcome
    from bulkupdate.runs.report_sinks import JsonlReport

    report = JsonlReport(tmp_path / "outcomes.jsonl")
    report.record(Outcome.succeeded("+13125550100", 1, ["job-1"]))
    report.record(Outcome.rejected(Rejection("in.txt", 3, "hello", "not a phone number")))
    report.close()
    rows = [orjson.loads(line) for line in (tmp_path / "outcomes.jsonl").read_bytes().splitlines()]
    assert rows[0] == {
        "phone_number": "+13125550100",
        "status": "succeeded",
        "attempts": 1,
        "job_ids": ["job-1"],
        "errors": [],
    }
    assert rows[1]["input"] == "hello"
    assert rows[1]["line"] == 3


# -- what came from outside is escaped ---------------------------------------------------

HOSTILE: ErrorObject = {
    "code": "=1+1",
    "title": "Bad",
    "detail": "\x1b]0;owned\x07 @SUM(A1)",
    "source": {"pointer": "/\x1b[2J"},
}


def hostile(tmp_path: Path, clock: FakeTime) -> Journal:
    """A rejected line and a server's answers full of escapes and formulas."""
    journal = Journal.create(tmp_path / "run.journal", settings={})
    rejection = Rejection("in\x1b[1m.txt", 2, '=HYPERLINK("http://x")\x1b[2J', "not a number")
    journal.read([N[0], N[1]], [rejection], [])
    post = journal.posting("update", [N[0], N[1]], "2023-11-14T22:13:30Z")
    journal.posted(post, "-job\x9b1", "update", [N[0], N[1]])
    journal.settled("-job\x9b1", "successful", [N[0]], [(N[1], [HOSTILE])], [], [])
    return journal


def test_reports_escape_what_the_input_and_the_server_said(tmp_path: Path, clock: FakeTime) -> None:
    journal = hostile(tmp_path, clock)
    out = io.BytesIO()
    write_report(journal, out, "jsonl")
    text = out.getvalue().decode()
    assert all(line.isprintable() for line in text.splitlines())
    rows = [orjson.loads(line) for line in text.splitlines()]
    assert all(all(isinstance(v, str) and v.isprintable() for v in _strings(row)) for row in rows)
    failed = next(row for row in rows if row.get("phone_number") == N[1])
    assert failed["errors"][0]["detail"] == "\\x1b]0;owned\\x07 @SUM(A1)"
    assert failed["job_ids"] == ["-job\\x9b1"]
    rejected = next(row for row in rows if row["status"] == "rejected")
    assert rejected["input"] == '=HYPERLINK("http://x")\\x1b[2J'
    assert rejected["source"] == "in\\x1b[1m.txt"


def test_csv_reports_neutralise_formulas_but_not_numbers(tmp_path: Path, clock: FakeTime) -> None:
    journal = hostile(tmp_path, clock)
    out = io.StringIO()
    write_report(journal, out, "csv")
    assert all(line.isprintable() for line in out.getvalue().splitlines())
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    formula_starts = tuple("=+-@\t\r")
    for row in rows:
        for column, cell in row.items():
            if column != "phone_number":
                assert not cell.startswith(formula_starts), (column, cell)
    failed = next(row for row in rows if row["phone_number"] == N[1])
    assert failed["error_codes"] == "'=1+1"
    assert failed["job_ids"] == "'-job\\x9b1"
    rejected = next(row for row in rows if row["status"] == "rejected")
    assert rejected["input"] == '\'=HYPERLINK("http://x")\\x1b[2J'
    assert {row["phone_number"] for row in rows} == {N[0], N[1], ""}  # +E.164 as it is


def test_status_escapes_job_ids_and_error_details(tmp_path: Path, clock: FakeTime) -> None:
    journal = hostile(tmp_path, clock)
    post = journal.posting("update", [], "2023-11-14T22:13:30Z")
    journal.posted(post, "running\x1b[5m", "update", [])
    lines = status_lines(journal, now=T0 + 60)
    assert all(line.isprintable() for line in lines)
    assert any("running\\x1b[5m" in line for line in lines)
    assert any("\\x1b]0;owned\\x07" in line for line in lines)
    facts = orjson.dumps(status_dict(journal)).decode()
    assert "\\u001b" not in facts
    assert "\\x1b" in facts


def _strings(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("job_id", ["job-1", "-job\x9b1", 'a"b\\c', "é\u202e", "\x1b[2J"])
def test_runs_of_rows_are_written_as_each_row_would_be(
    tmp_path: Path, clock: FakeTime, job_id: str
) -> None:
    """Numbers whose story is their job's are written a run at a time: the same bytes."""
    from bulkupdate.escaping import printable_json

    journal = Journal.create(tmp_path / "run.journal", settings={})
    mixed = [N[0], ID, "1583466971586889005", N[1], N[2], N[3], *LATE]
    journal.read(mixed, [], [])
    journal.read(["+13125550106", "+13125550107"], [], [])
    first = mixed[:6]
    journal.posted(
        journal.posting("update", first, "2023-11-14T22:13:30Z"), job_id, "update", first
    )
    journal.settled(job_id, "completed", [*first[:2], *first[3:]], [], [(first[2], [TIMEOUT])], [])
    journal.posted(None, "job\n2", "update", ["+13125550106"])  # still running
    out = io.BytesIO()
    assert write_report(journal, out, "jsonl") == 10
    expected = b"".join(
        printable_json(row, orjson.OPT_APPEND_NEWLINE) for row in journal.report_rows()
    )
    assert out.getvalue() == expected
    statuses = [orjson.loads(line)["status"] for line in expected.splitlines()]
    ok, retrying, queued, submitted = "succeeded", "retrying", "queued", "submitted"
    assert statuses == [ok, ok, retrying, ok, ok, ok, queued, queued, submitted, queued]


def test_the_run_is_stamped_as_updated_at_most_once_a_second_as_jobs_settle(
    tmp_path: Path, clock: FakeTime
) -> None:
    journal = Journal.create(tmp_path / "run.journal", settings={"kind": "update"})
    journal.read(N, [], [])
    for n, settled_at in enumerate((T0 + 10, T0 + 10.6, T0 + 11.2)):
        journal.posted(None, f"job-{n}", "update", [N[n]])
        clock.now = settled_at
        journal.settled(f"job-{n}", "successful", [N[n]], [], [], [])
        if n == 1:
            assert status_dict(journal)["updated_at"] == T0 + 10  # 0.6 s since: not yet
    assert status_dict(journal)["updated_at"] == T0 + 11.2
    clock.now = T0 + 11.5
    journal.finish("finished")
    assert status_dict(journal)["updated_at"] == T0 + 11.5  # the end is always stamped
