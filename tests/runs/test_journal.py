"""The journal: what each step records, what a resume finds, and what it never holds."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from bulkupdate.cli import main
from bulkupdate.errors import UsageError
from bulkupdate.input.scan import Duplicate, Rejection
from bulkupdate.runs.journal import Journal, decode_seqs, encode_seqs
from tests.processes import SandboxProcess

TRANSIENT = {"code": "10007", "detail": "An unexpected error occured."}
INVALID = {"code": "10015", "detail": "The field is invalid.", "source": {"pointer": "/tags"}}
UNOWNED = {"code": "10015", "detail": "You must own every number in the bulk request"}


def num(n: int) -> str:
    return f"+1312555{n:04d}"


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.create(tmp_path / "runs" / "run.journal", {"rate": 20})


def test_a_new_journal_is_private_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "run.journal"
    Journal.create(path, {}).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(UsageError, match="already exists"):
        Journal.create(path, {})


def test_a_journal_is_whole_or_absent(tmp_path: Path) -> None:
    path = tmp_path / "run.journal"
    draft = tmp_path / "run.journal.draft"
    draft.write_bytes(b"half a journal, from a creation that was killed")
    journal = Journal.create(path, {"rate": 1})
    try:
        assert journal.settings == {"rate": 1}
    finally:
        journal.close()
    assert not draft.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Journal.open(path)
    try:
        assert again.meta("status") == "running"
    finally:
        again.close()


def test_opening_something_else_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(UsageError, match="not a bulkupdate journal"):
        Journal.open(other)
    with pytest.raises(UsageError, match="no such file"):
        Journal.open(tmp_path / "missing.journal")


def test_every_step_of_a_run_is_recorded(journal: Journal) -> None:
    journal.read(
        [num(n) for n in range(6)],
        [Rejection("in.txt", 9, "hello", "not a phone number")],
        [Duplicate("in.txt", 10, num(0))],
    )
    post = journal.posting("update_phone_numbers", [num(n) for n in range(5)], "2026-01-01")
    journal.posted(post, "job-1", "update_phone_numbers", [num(n) for n in range(5)])
    journal.settled(
        "job-1",
        "completed",
        succeeded=[num(0), num(1)],
        failed=[(num(2), [INVALID])],
        retry=[(num(3), [TRANSIENT])],
        skipped=[num(4)],
    )
    journal.failed([num(5)], [UNOWNED])
    journal.posted(None, "job-2", "update_phone_numbers", [num(3)])
    journal.settled("job-2", "completed", [num(3)], [], [], [])

    assert journal.counts() == {
        "queued": 0,
        "submitted": 0,
        "retrying": 0,
        "succeeded": 3,
        "failed": 2,
        "skipped": 1,
        "rejected": 1,
        "duplicate": 1,
    }
    rows = {
        row.get("phone_number") or row.get("input"): row
        for row in journal.report_rows()
        if row["status"] != "duplicate"
    }
    assert rows[num(0)] == {
        "phone_number": num(0),
        "status": "succeeded",
        "attempts": 1,
        "job_ids": ["job-1"],
        "errors": [],
    }
    assert rows[num(2)]["errors"] == [INVALID]
    assert rows[num(3)]["status"] == "succeeded"
    assert rows[num(3)]["attempts"] == 2
    assert rows[num(3)]["job_ids"] == ["job-1", "job-2"]
    assert rows[num(4)]["status"] == "skipped"
    assert rows[num(5)]["status"] == "failed"
    assert rows[num(5)]["job_ids"] == []
    assert rows["hello"]["source"] == "in.txt"
    assert rows["hello"]["line"] == 9
    assert rows["hello"]["errors"][0]["detail"] == "not a phone number"
    assert [row["status"] for row in journal.report_rows()].count("duplicate") == 1
    assert sorted(journal.error_counts()) == [
        ("10015", "The field is invalid.", "/tags", 1),
        ("10015", "You must own every number in the bulk request", "", 1),
    ]


def test_a_resume_finds_each_unfinished_number_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "run.journal"
    journal = Journal.create(path, {})
    journal.read([num(n) for n in range(8)], [], [])
    journal.posted(None, "job-done", "update_phone_numbers", [num(0), num(1)])
    journal.settled("job-done", "completed", [num(0)], [], [(num(1), [TRANSIENT])], [])
    journal.posted(None, "job-running", "update_phone_numbers", [num(2), num(3)])
    journal.posting("update_phone_numbers", [num(4), num(5)], "2026-01-01T00:00:00+00:00")
    journal.close()  # the process dies here; numbers 6 and 7 were never sent

    again = Journal.open(path)
    state = again.resume_state()
    assert state.chunks_read == 1
    assert state.queued == [num(6), num(7)]
    assert state.active_jobs == [("job-running", [num(2), num(3)])]
    assert state.posts == [(1, "2026-01-01T00:00:00+00:00", [num(4), num(5)])]
    ((value, attempts, jobs, errors),) = state.retry
    assert (value, attempts, jobs, errors) == (num(1), 1, ["job-done"], (TRANSIENT,))

    # The resumed run records on top of what was there.
    again.post_done(1)
    again.posted(None, "job-next", "update_phone_numbers", [num(1), num(4), num(5)])
    again.settled("job-next", "completed", [num(1), num(4), num(5)], [], [], [])
    again.settled("job-running", "completed", [num(2), num(3)], [], [], [])
    rows = {row["phone_number"]: row for row in again.report_rows()}
    assert rows[num(1)]["attempts"] == 2
    assert rows[num(1)]["job_ids"] == ["job-done", "job-next"]
    assert again.counts()["succeeded"] == 6
    assert again.counts()["queued"] == 2


def test_a_job_recorded_just_before_a_crash_is_looked_for_as_its_post(tmp_path: Path) -> None:
    """A job's record rides with the next step's commit: a process killed before that
    step leaves the POST in the journal, and a resume looks for its job."""
    path = tmp_path / "run.journal"
    journal = Journal.create(path, {})
    journal.read([num(n) for n in range(4)], [], [])
    post = journal.posting("update_phone_numbers", [num(0), num(1)], "2026-01-01T00:00:00+00:00")
    journal.posted(post, "job-a", "update_phone_numbers", [num(0), num(1)])
    # Killed here: what another connection sees is what a crash leaves.
    assert journal_rows(path, "SELECT id FROM jobs") == []
    assert journal_rows(path, "SELECT post FROM posts") == [(post,)]
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("run.journal", "run.journal-wal"):
        shutil.copyfile(tmp_path / name, crashed / name)
    state = Journal.open(crashed / "run.journal").resume_state()
    assert state.posts == [(post, "2026-01-01T00:00:00+00:00", [num(0), num(1)])]
    assert state.queued == [num(2), num(3)]
    assert journal.counts()["submitted"] == 2  # while the journal's own questions see it
    assert journal_rows(path, "SELECT id FROM jobs") == []
    second = journal.posting("update_phone_numbers", [num(2), num(3)], "2026-01-01T00:00:01+00:00")
    assert journal_rows(path, "SELECT id FROM jobs") == [("job-a",)]  # with the next step
    assert journal_rows(path, "SELECT post FROM posts") == [(second,)]
    journal.posted(second, "job-b", "update_phone_numbers", [num(2), num(3)])
    journal.close()  # a clean close keeps it
    assert journal_rows(path, "SELECT id FROM jobs ORDER BY job") == [("job-a",), ("job-b",)]


def test_a_held_job_record_that_fails_leaves_no_half_of_it(journal: Journal) -> None:
    journal.read([num(n) for n in range(6)], [], [])
    journal.posted(None, "job-a", "update_phone_numbers", [num(0), num(1)])
    journal.posted(None, "job-a", "update_phone_numbers", [num(2), num(3)])  # twice: refused
    with pytest.raises(sqlite3.IntegrityError):
        journal.posting("update_phone_numbers", [num(4), num(5)], "2026-01-01T00:00:00+00:00")
    journal.close()
    path = Path(journal.path)
    assert journal_rows(path, "SELECT id FROM jobs") == []
    assert journal_rows(path, "SELECT post FROM posts") == []


def journal_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def test_seq_ranges_round_trip() -> None:
    seqs = [0, 1, 2, 3, 7, 9, 10, 11, 40]
    assert encode_seqs(seqs) == "0-3,7,9-11,40"
    assert decode_seqs(encode_seqs(seqs)) == seqs
    assert encode_seqs([]) == ""
    assert decode_seqs("") == []


def test_the_api_key_never_reaches_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = "KEY-journal-secret-0123456789"
    monkeypatch.setenv("TELNYX_API_KEY", secret)
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("+13125550100\n+13125550101\n")
    journal = tmp_path / "run.journal"
    sandbox = SandboxProcess("--api-key", secret)  # the key is really used
    try:
        code = main(
            ["run", str(numbers), "--set", "tags=a", "--base-url", sandbox.base_url,
             "--journal", str(journal)]
        )  # fmt: skip
    finally:
        sandbox.stop()
    assert code == 0
    written = b"".join(p.read_bytes() for p in tmp_path.glob("run.journal*"))
    assert secret.encode() not in written
    assert b"+13125550100" in written  # the journal did record the run


def test_a_resume_knows_every_job_and_the_attempts_so_far(tmp_path: Path) -> None:
    path = tmp_path / "run.journal"
    journal = Journal.create(path, {})
    journal.read([num(n) for n in range(3)], [], [])
    journal.posted(None, "job-1", "update_phone_numbers", [num(0), num(1), num(2)])
    retry = [(num(0), [TRANSIENT]), (num(1), [TRANSIENT])]
    journal.settled("job-1", "expired", [num(2)], [], retry, [])
    journal.posted(None, "job-2", "update_phone_numbers", [num(0)])  # still running
    journal.posting("update_phone_numbers", [num(1)], "2026-01-01T00:00:00+00:00")  # lost
    journal.close()

    state = Journal.open(path).resume_state()
    assert state.known_jobs == {"job-1", "job-2"}  # a lost POST's job is neither
    # num(0): tried in job-1, now in job-2 (counted again when job-2 ends).
    assert state.histories[num(0)] == (1, ["job-1"], (TRANSIENT,))
    # num(1): tried in job-1, then in a POST whose answer was lost.
    assert state.histories[num(1)] == (1, ["job-1"], (TRANSIENT,))
