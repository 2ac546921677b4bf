"""The nightly cron line: one command, night after night, and one process per journal.

The command runs in child processes, as cron would start it, against one sandbox child
process for the whole module (its books outlive every killed run, as Telnyx's would).
Each test uses numbers of its own, so the sandbox's ``reapplied_after_success`` stays 0
only if no test ever sends a number twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.cli import main
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.journal_lock import lock_path
from bulkupdate.runs.run_options import EXIT_IN_USE
from tests.processes import SandboxProcess, bulkupdate, journal_says, wait_until

KEY = "nightly-key"
JOBS_ENDED = "SELECT COUNT(*) FROM jobs WHERE status IS NOT NULL"
JOBS = "SELECT COUNT(*) FROM jobs"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    # Jobs of 50 numbers take about half a second, so a run is caught in flight; some
    # numbers fail once, and some POSTs create their job and then lose the answer.
    server = SandboxProcess(
        "--api-key", KEY, "--rate", "500", "--op-ms", "10", "--pending-ms", "10",
        "--fail-rate", "0.03", "--drop-after-create-rate", "0.05", "--seed", "14",
    )  # fmt: skip
    yield server
    server.stop()


def command(numbers: Path, base_url: str, *journal: str) -> list[str]:
    """``bulkupdate run`` with ``journal``'s flags, logging JSON, paced for the sandbox."""
    return bulkupdate(
        "run", str(numbers), "--set", "tags=nightly", "--base-url", base_url, *journal,
        "--log-format", "json", "--batch-size", "50", "--max-active-jobs", "4", "--rate", "500",
    )  # fmt: skip


def cron_line(numbers: Path, journals: Path, base_url: str) -> list[str]:
    """The README's cron recipe."""
    return command(numbers, base_url, "--journal-dir", str(journals), "--keep-days", "30")


def environment(key: str = KEY) -> dict[str, str]:
    return {**os.environ, "TELNYX_API_KEY": key, "PYTHONUNBUFFERED": "1"}


def write_list(path: Path, first: int, count: int) -> list[str]:
    numbers = [f"+1312{first + n:07d}" for n in range(count)]
    path.write_text("".join(f"{number}\n" for number in numbers))
    return numbers


def night(line: list[str], key: str = KEY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(line, env=environment(key), capture_output=True, text=True, timeout=120)


def events(stderr: str) -> dict[str, dict[str, Any]]:
    """The last event of each name the run logged (``--log-format json``)."""
    found = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return {event["event"]: event for event in found}


def statuses(journal: Path | str) -> dict[str, str]:
    """Each entry's status in the journal's report, by number (or rejected text)."""
    recorded = Journal.open(journal)
    try:
        return {
            row.get("phone_number") or row["input"]: row["status"] for row in recorded.report_rows()
        }
    finally:
        recorded.close()


def journals_in(directory: Path) -> set[Path]:
    return set(directory.glob("*.journal"))


def assert_all_updated(journal: Path, listed: list[str], sandbox: SandboxProcess) -> None:
    """Every number succeeded, once, in no duplicate job; the journal is free again."""
    assert statuses(journal) == dict.fromkeys(listed, "succeeded")
    assert not lock_path(journal).exists()
    stats = sandbox.stats()
    assert stats["numbers"]["reapplied_after_success"] == 0  # nothing sent twice
    assert stats["jobs"]["overlapping"] == 0  # no duplicate job


def test_three_nights_one_command_line(sandbox: SandboxProcess, tmp_path: Path) -> None:
    numbers, journals = tmp_path / "numbers.txt", tmp_path / "journals"
    line = cron_line(numbers, journals, sandbox.base_url)
    applied_before = sandbox.stats()["numbers"]["applied"]

    # Night 1: a list, all of it updated.
    first_list = write_list(numbers, 3_000_000, 200)
    done = night(line)
    assert done.returncode == 0, done.stderr
    assert events(done.stderr)["run_started"]["resumed"] is False
    (night_1,) = journals_in(journals)
    assert statuses(night_1) == dict.fromkeys(first_list, "succeeded")

    # Night 2: the export wrote another list; the run is killed half-way.
    second_list = write_list(numbers, 3_100_000, 400)
    with subprocess.Popen(
        line, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as killed:

        def half_way() -> bool:
            tonight = journals_in(journals) - {night_1}
            return bool(tonight) and journal_says(tonight.pop(), JOBS_ENDED) >= 4

        assert wait_until(half_way, killed), "night 2 ended before it could be killed"
        killed.send_signal(signal.SIGKILL)
    (night_2,) = journals_in(journals) - {night_1}
    assert "queued" in statuses(night_2).values() or "submitted" in statuses(night_2).values()

    # Night 3: the same list again: the same line takes night 2's run over and ends it.
    done = night(line)
    assert done.returncode == 0, done.stderr
    started = events(done.stderr)["run_started"]
    assert started["resumed"] is True
    assert started["journal"] == str(night_2)
    assert events(done.stderr)["run_finished"]["exit_code"] == 0
    assert journals_in(journals) == {night_1, night_2}
    assert_all_updated(night_2, second_list, sandbox)
    applied = sandbox.stats()["numbers"]["applied"] - applied_before
    assert applied == len(first_list) + len(second_list)

    # Weeks later: night 1's journal is older than --keep-days and goes; the run of
    # night 2's list again says it is done and sends nothing.
    backdate(night_1, days=40)
    requests = sandbox.stats()["requests"]["total"]
    done = night(line)
    assert done.returncode == 0, done.stderr
    assert "has finished: nothing was sent; exit 0" in done.stderr
    assert events(done.stderr)["journals_pruned"]["journals"] == [str(night_1)]
    assert journals_in(journals) == {night_2}
    assert sandbox.stats()["requests"]["total"] == requests
    assert "Traceback" not in done.stderr


def backdate(journal: Path, *, days: int) -> None:
    when = time.time() - days * 86_400
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'finished_at'", (orjson.dumps(when),))
    db.close()


def test_a_second_process_on_a_journal_in_use_exits_75_and_sends_nothing(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    numbers, journals = tmp_path / "numbers.txt", tmp_path / "journals"
    listed = write_list(numbers, 4_000_000, 300)
    line = cron_line(numbers, journals, sandbox.base_url)
    with subprocess.Popen(
        line, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as first:

        def under_way() -> bool:
            found = journals_in(journals)
            return bool(found) and journal_says(found.pop(), JOBS) >= 1

        assert wait_until(under_way, first)
        # Stopped, it holds the journal as long as we like: no race with its finishing.
        first.send_signal(signal.SIGSTOP)
        try:
            (journal,) = journals_in(journals)
            refused_before = sandbox.stats()["requests"]["by_status"]["401"]
            # A wrong key: any request the second process sent would be counted as a 401.
            second = night(line, key="not-the-key")
            by_hand = night(bulkupdate("resume", str(journal)), key="not-the-key")

            status = subprocess.run(
                bulkupdate("status", str(journal), "--json"),
                capture_output=True, text=True, check=True, timeout=30,
            )  # fmt: skip
            report = subprocess.run(
                bulkupdate("report", str(journal), "--format", "csv"),
                capture_output=True, text=True, check=True, timeout=30,
            )  # fmt: skip
        finally:
            first.send_signal(signal.SIGCONT)
        _, first_err = first.communicate(timeout=120)

    for refused in (second, by_hand):
        assert refused.returncode == EXIT_IN_USE, refused.stderr
        assert f"is in use by process {first.pid} on " in refused.stderr
        assert "nothing was sent" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert sandbox.stats()["requests"]["by_status"]["401"] == refused_before

    facts = json.loads(status.stdout)
    assert facts["status"] == "running"
    assert facts["jobs_created"] >= 1
    assert facts["counts"]["succeeded"] < len(listed)  # caught in flight
    rows = report.stdout.splitlines()
    assert rows[0].startswith("phone_number,id,input,status")
    assert len(rows) - 1 == facts["values_read"]

    assert first.returncode == 0, first_err
    assert_all_updated(journal, listed, sandbox)


def test_a_killed_run_leaves_its_journal_to_the_next_process(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    numbers, journal = tmp_path / "numbers.txt", tmp_path / "nightly.journal"
    listed = write_list(numbers, 5_000_000, 400)
    line = command(numbers, sandbox.base_url, "--journal", str(journal))
    with subprocess.Popen(
        line, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as killed:
        assert wait_until(lambda: journal_says(journal, JOBS) >= 2, killed)
        killed.send_signal(signal.SIGKILL)
    assert lock_path(journal).exists()  # left by the dead process, holding nothing

    done = night(line)
    assert done.returncode == 0, done.stderr
    assert events(done.stderr)["run_started"]["resumed"] is True
    assert_all_updated(journal, listed, sandbox)


def test_a_finished_journal_answers_with_its_code_or_refuses_other_work(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    numbers, journal = tmp_path / "numbers.txt", tmp_path / "nightly.journal"
    write_list(numbers, 6_000_000, 3)
    with numbers.open("a") as more:
        more.write("not a number\n")  # rejected: the run exits 1
    line = command(numbers, sandbox.base_url, "--journal", str(journal))
    assert night(line).returncode == 1
    requests = sandbox.stats()["requests"]["total"]

    again = night(line)  # the same list: the same run, finished
    assert again.returncode == 1, again.stderr
    assert "has finished: nothing was sent; exit 1" in again.stderr

    write_list(numbers, 6_100_000, 3)  # tonight's list, same journal
    other = night(line)
    assert other.returncode == 2, other.stderr
    assert f"journal {journal} holds a run of different work, finished" in other.stderr
    assert "--journal-dir DIR" in other.stderr
    assert "Traceback" not in other.stderr
    assert sandbox.stats()["requests"]["total"] == requests
    assert statuses(journal) == {  # untouched
        **{f"+1312{6_000_000 + n:07d}": "succeeded" for n in range(3)},
        "not a number": "rejected",
    }


def test_a_run_left_unfinished_beside_the_new_one_is_named(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    numbers, journals = tmp_path / "numbers.txt", tmp_path / "journals"
    leftover = journals / "run-0123456789abcdef.journal"
    Journal.create(leftover, {}).close()  # killed some night, its inputs since replaced
    write_list(numbers, 7_000_000, 3)
    done = night(cron_line(numbers, journals, sandbox.base_url))
    assert done.returncode == 0, done.stderr
    note = events(done.stderr)["unfinished_run_left"]
    assert note["journal"] == str(leftover)
    assert note["resume_command"] == f"bulkupdate resume {leftover}"
    assert note["report_command"] == f"bulkupdate report {leftover}"
    assert leftover.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--journal", "a.journal", "--journal-dir", "runs"], "pick one"),
        (["--keep-days", "3"], "--keep-days goes with --journal-dir"),
        (["--journal-dir", "runs", "--keep-days", "-1"], "--keep-days must be 0 or more"),
        (["--journal-dir", "runs", "--force"], "--force goes with --journal PATH"),
    ],
)
def test_journal_flags_that_do_not_go_together(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = tmp_path / "numbers.txt"
    write_list(numbers, 8_000_000, 1)
    code = main(["run", str(numbers), "--set", "tags=a", "--sandbox", *flags])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_journal_dir_needs_input_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-", "--set", "tags=a", "--sandbox", "--journal-dir", "runs"]) == 2
    assert "standard input cannot be read again" in capsys.readouterr().err
