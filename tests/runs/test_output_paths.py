"""Report and journal paths: checked before anything is sent, nothing written over that is
not ours."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from bulkupdate.errors import ReportNotWritten, UsageError
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.output_paths import check_journal_path, check_report_path, check_run_paths
from bulkupdate.runs.report_columns import CSV_COLUMNS
from bulkupdate.runs.run_command import write_report_file


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text("+13125550100\n")
    return path


def report_check(path: Path | str, *inputs: Path, journal: tuple[str, ...] = ()) -> None:
    check_report_path(str(path), flag="--report", inputs=[str(p) for p in inputs], journal=journal)


def test_a_report_over_an_input_is_refused_however_it_is_spelt(
    tmp_path: Path, numbers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "link.txt"
    link.symlink_to(numbers)
    hard = tmp_path / "hard.txt"
    os.link(numbers, hard)
    for spelling in (
        numbers,
        "numbers.txt",
        "./numbers.txt",
        f"{tmp_path}/../{tmp_path.name}/numbers.txt",
        link,
        hard,
    ):
        with pytest.raises(UsageError, match=r"is the input .*numbers\.txt; writing the report"):
            report_check(spelling, numbers)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/report.jsonl", "the folder .*missing does not exist"),
        ("numbers.txt/report.jsonl", "the folder .*numbers.txt is not a folder"),
        (".", "is a directory"),
        ("/proc/report.jsonl", "cannot be written in /proc"),
        ("/proc/version", "exists and is not a bulkupdate report"),
    ],
)
def test_reports_that_cannot_be_written_are_refused(
    tmp_path: Path,
    numbers: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        report_check(where, numbers)


def test_a_file_that_is_not_a_report_is_left_alone(tmp_path: Path, numbers: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    with pytest.raises(UsageError, match="exists and is not a bulkupdate report"):
        report_check(notes, numbers)


def test_reports_we_wrote_empty_files_and_devices_may_be_written(
    tmp_path: Path, numbers: Path
) -> None:
    jsonl = tmp_path / "old.jsonl"
    row = {"phone_number": "+13125550100", "status": "succeeded", "attempts": 1}
    jsonl.write_bytes(orjson.dumps({**row, "job_ids": [], "errors": []}) + b"\n")
    csv = tmp_path / "old.csv"
    csv.write_text(",".join(CSV_COLUMNS) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    for path in (jsonl, csv, empty, tmp_path / "new.jsonl", Path(os.devnull)):
        report_check(path, numbers)


def test_a_report_over_the_journal_is_refused(tmp_path: Path, numbers: Path) -> None:
    journal = Journal.create(tmp_path / "run.journal", {})
    try:
        for part in ("run.journal", "run.journal-wal"):
            with pytest.raises(UsageError, match="is the run's journal"):
                report_check(tmp_path / part, numbers, journal=(journal.path,))
    finally:
        journal.close()


def test_a_journal_path_must_be_new_or_a_journal(tmp_path: Path, numbers: Path) -> None:
    inputs = [str(numbers)]
    empty = tmp_path / "empty.txt"
    empty.touch()
    for path in (numbers, empty):
        before = path.read_bytes()
        with pytest.raises(UsageError, match="--journal"):
            check_journal_path(str(path), inputs=inputs)
        assert path.read_bytes() == before
    with pytest.raises(UsageError, match=r"the folder .* does not exist"):
        check_journal_path(str(tmp_path / "nowhere" / "run.journal"), inputs=inputs)
    Journal.create(tmp_path / "run.journal", {}).close()
    check_journal_path(str(tmp_path / "run.journal"), inputs=inputs)
    check_journal_path(str(tmp_path / "new.journal"), inputs=inputs)


def test_the_default_journal_folder_must_be_a_folder(tmp_path: Path, numbers: Path) -> None:
    runs = tmp_path / "bulkupdate-runs"
    check_run_paths(inputs=[str(numbers)], report=None, journal=None, journal_folder=str(runs))
    runs.write_text("not a folder")
    with pytest.raises(UsageError, match="is not a folder"):
        check_run_paths(inputs=[str(numbers)], report=None, journal=None, journal_folder=str(runs))


def test_opening_an_empty_file_as_a_journal_leaves_it_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.journal"
    empty.touch()
    with pytest.raises(UsageError, match="not a bulkupdate journal"):
        Journal.open(empty)
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.journal"]


def test_a_report_that_fails_after_the_run_is_not_a_usage_error(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "run.journal", {})
    try:
        with pytest.raises(ReportNotWritten, match=r"bulkupdate report .*run\.journal --out") as e:
            write_report_file(journal, str(tmp_path / "gone" / "report.jsonl"))
        assert not isinstance(e.value, UsageError)  # exit 2 would say nothing was sent
    finally:
        journal.close()
