"""What a run tells its operator: JSON and text event logs, the progress bar, line counts."""

from __future__ import annotations

import doctest
import gzip
import io
import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

import bulkupdate.runs.events as events_module
import bulkupdate.runs.progress_bar as progress_bar_module
from bulkupdate.engine.ledger import Progress
from bulkupdate.errors import UsageError
from bulkupdate.runs.events import TEXT_PREFIX, EventLog
from bulkupdate.runs.progress_bar import ProgressDisplay, count_lines

T0 = 1_700_000_000.25  # 2023-11-14 22:13:20.250 UTC
KEY = "KEY0123456789ABCDEFabcdef_0123456789"

# One run's events, in the engine's names and fields.
RUN: list[tuple[str, dict[str, Any]]] = [
    (
        "run_started",
        {
            "journal": "run.journal",
            "inputs": ["a.txt", "b.csv"],
            "kind": "update",
            "rate": 20,
            "max_active_jobs": 20,
            "resumed": False,
        },
    ),
    ("batch_submitted", {"job_id": "job-1", "size": 1000, "attempt": 1}),
    ("throttled", {"wait_s": 2.5, "rate": 10.0}),
    (
        "job_finished",
        {
            "job_id": "job-1",
            "status": "successful",
            "succeeded": 990,
            "failed": 4,
            "retry": 6,
            "skipped": 0,
        },
    ),
    ("retried", {"numbers": 6, "after_s": 1.0}),
    (
        "run_finished",
        {
            "totals": {"entries": 1002, "succeeded": 996, "failed": 4, "rejected": 2, "skipped": 0},
            "elapsed_s": 83.0,
            "exit_code": 1,
        },
    ),
    ("run_interrupted", {"resume_command": "bulkupdate run --resume run.journal"}),
]


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def play(log: EventLog, events: list[tuple[str, dict[str, Any]]] = RUN) -> None:
    for event, fields in events:
        log.emit(event, **fields)


def unprefixed(text: str) -> list[str]:
    """Text lines without the prefix every line for a person starts with."""
    lines = text.splitlines()
    assert all(line.startswith(TEXT_PREFIX) for line in lines), lines
    return [line.removeprefix(TEXT_PREFIX) for line in lines]


def text_lines(**options: Any) -> list[str]:
    stream = io.StringIO()
    play(EventLog(stream, fmt="text", **options))
    return unprefixed(stream.getvalue())


# -- the event log ---------------------------------------------------------------------


def test_json_lines_carry_ts_event_and_fields_and_are_flushed() -> None:
    stream = CountingStream()
    play(EventLog(stream, fmt="json", clock=lambda: T0))

    records = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [record["event"] for record in records] == [event for event, _ in RUN]
    assert {record["ts"] for record in records} == {"2023-11-14T22:13:20.250Z"}
    for record, (event, fields) in zip(records, RUN, strict=True):
        assert record == {"ts": "2023-11-14T22:13:20.250Z", "event": event, **fields}
    assert stream.flushes == len(RUN)


def test_json_copes_with_values_json_does_not_know() -> None:
    stream = io.StringIO()
    EventLog(stream, fmt="json", clock=lambda: T0).emit(
        "odd", path=Path("a.txt"), codes={10007: 2}, ts="not mine"
    )
    record = orjson.loads(stream.getvalue())
    # The log's own ts wins over a field of that name.
    assert record == {
        "ts": "2023-11-14T22:13:20.250Z",
        "event": "odd",
        "path": "a.txt",
        "codes": {"10007": 2},
    }


def test_text_keeps_only_what_a_person_needs() -> None:
    assert text_lines() == [
        "run started: update from a.txt, b.csv, 20 requests/s, up to 20 jobs at once; "
        "journal run.journal",
        "throttled by the API: waiting 2.5s, rate now 10 requests/s",
        "run finished in 1m 23s: 1,002 entries, 996 succeeded, 4 failed, 2 rejected (exit 1)",
        "run interrupted; resume with: bulkupdate run --resume run.journal",
    ]


def test_text_verbose_adds_jobs_and_retries() -> None:
    lines = text_lines(verbose=True)
    assert len(lines) == len(RUN)
    assert lines[1] == "job job-1: 1,000 numbers submitted (attempt 1)"
    assert lines[3] == "job job-1 successful: 990 succeeded, 4 failed, 6 to retry, 0 skipped"
    assert lines[4] == "retrying 6 numbers in 1.0s"


def test_text_wording_of_a_resumed_run_with_many_inputs() -> None:
    stream = io.StringIO()
    fields = dict(RUN[0][1], resumed=True, inputs=["a", "b", "c", "d", "e"])
    EventLog(stream, fmt="text").emit("run_started", **fields)
    assert stream.getvalue().startswith(
        TEXT_PREFIX + "run resumed: update from a, b, c and 2 more,"
    )


def test_text_wording_of_what_a_journal_directory_holds() -> None:
    stream = io.StringIO()
    log = EventLog(stream, fmt="text", quiet=True)
    log.emit("journals_pruned", directory="runs", keep_days=30, journals=["runs/a.journal"])
    log.emit(
        "unfinished_run_left",
        journal="runs/b.journal",
        status="interrupted",
        updated_at=T0,
        resume_command="bulkupdate resume runs/b.journal",
        report_command="bulkupdate report runs/b.journal",
    )
    assert unprefixed(stream.getvalue()) == [  # quiet: only what asks for action
        "another run in this directory is not finished: runs/b.journal (interrupted, last "
        "written 2023-11-14 22:13 UTC). Unless a process is running it, bulkupdate resume "
        "runs/b.journal carries it on if its inputs are as they were, and bulkupdate report "
        "runs/b.journal lists what it left undone"
    ]
    stream = io.StringIO()
    EventLog(stream, fmt="text").emit(
        "journals_pruned", directory="runs", keep_days=30, journals=["runs/a.journal"]
    )
    assert unprefixed(stream.getvalue()) == [
        "removed 1 journal finished more than 30 days ago from runs"
    ]


def test_text_lists_an_event_it_has_no_wording_for_and_never_raises() -> None:
    stream = io.StringIO()
    log = EventLog(stream, fmt="text")
    log.emit("ownership_resolved", numbers=12, by="inventory")
    log.emit("throttled", wait_s=None, rate=10)  # a wrong type must not stop the run
    log.emit("run_finished")  # nor a missing field
    assert unprefixed(stream.getvalue()) == [
        "ownership_resolved numbers=12 by=inventory",
        "throttled wait_s=None rate=10",
        "run_finished",
    ]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_quiet_keeps_only_interruptions_and_errors(fmt: Any) -> None:
    stream = io.StringIO()
    log = EventLog(stream, fmt=fmt, quiet=True, verbose=True, clock=lambda: T0)
    play(log)
    log.emit("auth_error", status=401)
    lines = stream.getvalue().splitlines()
    if fmt == "json":
        assert [orjson.loads(line)["event"] for line in lines] == ["run_interrupted", "auth_error"]
    else:
        assert unprefixed(stream.getvalue()) == [
            "run interrupted; resume with: bulkupdate run --resume run.journal",
            "auth_error status=401",
        ]


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="use text or json"):
        EventLog(io.StringIO(), fmt="yaml")  # type: ignore[arg-type]


SECRETS: dict[str, Any] = {
    "api_key": KEY,
    "key": "k-value-1",
    "token": "t-value-2",
    "Authorization": "Bearer b-value-3",
    "telnyx_api_key": "k-value-4",
    "apiKey": "k-value-5",
    "access-token": "t-value-6",
    "headers": {"authorization": "Bearer b-value-7", "accept": "application/json"},
}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_fields_named_like_secrets_never_reach_the_stream(fmt: Any) -> None:
    stream = io.StringIO()
    log = EventLog(stream, fmt=fmt, clock=lambda: T0)
    log.emit("diagnostic", job_id="job-1", keyboard="kept", **SECRETS)
    log.emit("run_interrupted", resume_command=f"bulkupdate run --api-key {KEY} --resume r")
    written = stream.getvalue()

    for value in ("KEY0123", "value-1", "value-2", "value-3", "value-4", "value-5", "value-6"):
        assert value not in written
    assert "value-7" not in written
    assert "job-1" in written
    assert "kept" in written  # only whole-word "key" is a secret name
    assert "application/json" in written
    assert "bulkupdate run --api-key [redacted] --resume r" in written
    if fmt == "json":
        first = orjson.loads(written.splitlines()[0])
        assert set(first) == {"ts", "event", "job_id", "keyboard", "headers"}
        assert first["headers"] == {"accept": "application/json"}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_control_characters_in_values_are_escaped(fmt: Any) -> None:
    stream = io.StringIO()
    log = EventLog(stream, fmt=fmt, verbose=True, clock=lambda: T0)
    hostile = "job-\x1b]0;owned\x07\x9b2J\nforged line"
    log.emit("batch_submitted", job_id=hostile, size=1, attempt=1)
    log.emit("odd", errors=[{"detail": "\x1b[31mred", "meta": {"\u202e": "x"}}])
    written = stream.getvalue()
    assert all(line.isprintable() for line in written.splitlines())
    assert len(written.splitlines()) == 2  # no line forged
    if fmt == "json":
        first = orjson.loads(written.splitlines()[0])
        assert first["job_id"] == "job-\\x1b]0;owned\\x07\\x9b2J\\nforged line"
    else:
        assert "job job-\\x1b]0;owned\\x07\\x9b2J\\nforged line:" in written


def test_format_duration_examples_hold() -> None:
    failures, tried = doctest.testmod(events_module)
    assert (tried, failures) == (1, 0)


# -- the progress bar ------------------------------------------------------------------


def snapshot(done: int, entries: int, *, input_done: bool = False, **counts: int) -> Progress:
    return Progress(
        entries=entries,
        numbers_done=done,
        succeeded=done - counts.get("failed", 0),
        failed=counts.get("failed", 0),
        rejected=0,
        duplicates=0,
        batches_submitted=1,
        jobs_finished=0,
        active_jobs=1,
        waiting_retry=counts.get("waiting_retry", 0),
        input_done=input_done,
    )


def visible(text: str) -> str:
    """The terminal output without its control sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_a_disabled_display_writes_nothing() -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, total=10, enabled=False) as display:
        display.update(snapshot(3, 10))
        display.set_total(20)
        assert display.log_stream is stream
    display.close()
    assert stream.getvalue() == ""


def test_an_enabled_display_draws_the_latest_snapshot_when_closed() -> None:
    stream = io.StringIO()
    # One refresh every 1000 s: between start and close nothing is drawn by the clock,
    # so what the test sees is exactly what update stored.
    with ProgressDisplay(
        stream, total=100, enabled=True, force_terminal=True, refresh_per_second=0.001
    ) as display:
        assert "0/100" in visible(stream.getvalue())  # drawn once at start
        drawn = stream.getvalue()
        for done in range(1, 43):
            display.update(snapshot(done, 60, failed=3, waiting_retry=12))
        assert stream.getvalue() == drawn  # update only stores the snapshot
    final = visible(stream.getvalue()[len(drawn) :])
    assert "42/100" in final
    assert "3 failed, 12 retrying" in final
    display.close()  # a second close is harmless


def test_unknown_total_counts_against_entries_so_far_until_input_is_read() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(
        stream, total=None, enabled=True, force_terminal=True, refresh_per_second=0.001
    )
    display.update(snapshot(5, 40))
    display.close()
    assert "5/40 so far" in visible(stream.getvalue())

    stream = io.StringIO()
    display = ProgressDisplay(
        stream, total=None, enabled=True, force_terminal=True, refresh_per_second=0.001
    )
    display.set_total(1000)
    display.update(snapshot(5, 40))
    display.close()
    assert "5/1,000" in visible(stream.getvalue())

    # Once the input is read, the snapshot's count replaces the estimate.
    stream = io.StringIO()
    display = ProgressDisplay(
        stream, total=1000, enabled=True, force_terminal=True, refresh_per_second=0.001
    )
    display.update(snapshot(40, 998, input_done=True))
    display.close()
    assert "40/998" in visible(stream.getvalue())


def test_lines_written_to_the_log_stream_appear_above_the_bar() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(
        stream, total=10, enabled=True, force_terminal=True, refresh_per_second=0.001
    )
    log = EventLog(display.log_stream, fmt="text")
    log.emit("throttled", wait_s=1.0, rate=5)
    display.update(snapshot(1, 10))
    display.close()
    shown = visible(stream.getvalue())
    assert "throttled by the API: waiting 1.0s, rate now 5 requests/s\n" in shown
    assert shown.index("throttled") < shown.index("1/10")


# -- count_lines -----------------------------------------------------------------------


def test_count_lines_in_plain_and_gzip_files(tmp_path: Path) -> None:
    lines = "".join(f"+1312555{n:04d}\n" for n in range(10))
    plain = tmp_path / "numbers.txt"
    plain.write_text(lines)
    packed = tmp_path / "numbers.data"  # gzip is known by its content, not its name
    packed.write_bytes(gzip.compress(lines.encode()))
    assert count_lines([str(plain)]) == 10
    assert count_lines([str(packed)]) == 10
    assert count_lines([str(plain), str(packed)]) == 20


def test_count_lines_across_chunks_and_without_a_last_newline(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    count = 3 * progress_bar_module.READ_CHUNK // 13 + 7  # 13 bytes a line: more than 3 chunks
    big.write_bytes(b"+13125550100\n" * count)
    assert count_lines([str(big)]) == count
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("a\nb")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert count_lines([str(ragged)]) == 2
    assert count_lines([str(empty)]) == 0


def test_count_lines_is_unknown_for_stdin_and_unreadable_files(tmp_path: Path) -> None:
    plain = tmp_path / "numbers.txt"
    plain.write_text("+13125550100\n")
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(b"+13125550100\n" * 1000)[:40])
    assert count_lines([str(plain), "-"]) is None
    assert count_lines([str(tmp_path / "missing.txt")]) is None
    assert count_lines([str(truncated)]) is None
    assert count_lines([]) == 0


def test_count_lines_leaves_a_pipe_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "numbers.fifo"
    os.mkfifo(fifo)
    # Opening a FIFO for reading would block until a writer came: not opening it at all
    # is what keeps its numbers for the run.
    assert count_lines([str(fifo)]) is None
