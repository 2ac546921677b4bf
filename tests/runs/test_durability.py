"""Durable runs: killed at any moment, resumed, every number ends with one outcome.

These run the real command in child processes against a sandbox in another child
process, so the sandbox (and its jobs) outlive each killed run, as Telnyx would.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkupdate.runs.journal import Journal
from tests.processes import SandboxProcess, bulkupdate, journal_says, wait_until

NUMBERS = 3_000


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    # Transient failures and POSTs that create the job, then lose the answer.
    server = SandboxProcess(
        "--rate", "200", "--op-ms", "2", "--pending-ms", "10",
        "--fail-rate", "0.05", "--drop-after-create-rate", "0.1", "--seed", "4",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"+1312{2_000_000 + n:07d}\n" for n in range(NUMBERS)))
    return path


def run_args(numbers: Path, journal: Path, base_url: str) -> list[str]:
    return bulkupdate(
        "run", str(numbers), "--set", "tags=durable", "--base-url", base_url,
        "--journal", str(journal), "--batch-size", "100", "--rate", "200", "--quiet",
    )  # fmt: skip


def environment() -> dict[str, str]:
    return {**os.environ, "TELNYX_API_KEY": "test-key", "PYTHONUNBUFFERED": "1"}


def reached_in(journal: Path, sql: str, threshold: int) -> bool:
    return journal_says(journal, sql) >= threshold


MOMENTS: list[tuple[str, str, int]] = [
    ("a POST is in flight", "SELECT COUNT(*) FROM posts", 1),
    ("the first jobs exist", "SELECT COUNT(*) FROM jobs", 3),
    ("some jobs have ended", "SELECT COUNT(*) FROM jobs WHERE status IS NOT NULL", 5),
    ("a POST is in flight again", "SELECT COUNT(*) FROM posts", 1),
    ("numbers are waiting for a retry", "SELECT COUNT(*) FROM exceptions WHERE state = 2", 1),
    ("most jobs have ended", "SELECT COUNT(*) FROM jobs WHERE status IS NOT NULL", 20),
]


def test_killed_at_any_moment_and_resumed_every_number_ends_once(
    sandbox: SandboxProcess, numbers: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.journal"
    kills = 0
    for _, sql, threshold in MOMENTS:
        with subprocess.Popen(
            run_args(numbers, journal, sandbox.base_url),
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as run:
            reached = functools.partial(reached_in, journal, sql, threshold)
            if wait_until(reached, run):
                run.send_signal(signal.SIGKILL)
                kills += 1
            run.wait(timeout=30)
    assert kills >= 3
    final = subprocess.run(
        run_args(numbers, journal, sandbox.base_url),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr

    recorded = Journal.open(journal)
    try:
        rows = list(recorded.report_rows())
        pending_posts = journal_says(journal, "SELECT COUNT(*) FROM posts")
    finally:
        recorded.close()
    assert len(rows) == NUMBERS
    assert len({row["phone_number"] for row in rows}) == NUMBERS  # each number once
    assert {row["status"] for row in rows} == {"succeeded"}  # the failures were transient
    assert pending_posts == 0
    stats = sandbox.stats()
    assert stats["numbers"]["reapplied_after_success"] == 0
    assert stats["jobs"]["overlapping"] == 0  # no duplicate job, however the runs died
    assert stats["faults"]["dropped_after_create"] > 0


def test_sigterm_stops_gracefully_and_resume_finishes(
    sandbox: SandboxProcess, numbers: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.journal"
    with subprocess.Popen(
        run_args(numbers, journal, sandbox.base_url),
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        assert wait_until(lambda: journal_says(journal, "SELECT COUNT(*) FROM jobs") >= 2, run)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    assert run.returncode == 130
    assert f"bulkupdate resume {journal}" in err
    status = subprocess.run(
        bulkupdate("status", str(journal), "--json"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(status.stdout)["status"] == "interrupted"

    resumed = subprocess.run(
        bulkupdate("resume", str(journal)),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{NUMBERS:,} succeeded" in resumed.stderr
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0


def test_resume_refuses_a_changed_input_unless_forced(
    sandbox: SandboxProcess, numbers: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.journal"
    with subprocess.Popen(
        run_args(numbers, journal, sandbox.base_url),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as run:
        assert wait_until(lambda: journal_says(journal, "SELECT COUNT(*) FROM jobs") >= 1, run)
        run.send_signal(signal.SIGKILL)
    with numbers.open("a") as extra:
        extra.write("+13129999999\n")

    refused = subprocess.run(
        bulkupdate("resume", str(journal)), env=environment(), capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert str(numbers) in refused.stderr
    assert "--force" in refused.stderr
    assert "Traceback" not in refused.stderr

    forced = subprocess.run(
        bulkupdate("resume", str(journal), "--force"),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert forced.returncode == 0, forced.stderr


def test_report_and_status_of_an_unfinished_run(
    sandbox: SandboxProcess, numbers: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.journal"
    with subprocess.Popen(
        run_args(numbers, journal, sandbox.base_url),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as run:
        done = "SELECT COUNT(*) FROM jobs WHERE status IS NOT NULL"
        assert wait_until(lambda: journal_says(journal, done) >= 5, run)
        run.send_signal(signal.SIGKILL)
    report = subprocess.run(
        bulkupdate("report", str(journal)), capture_output=True, text=True, check=True
    )
    rows = [json.loads(line) for line in report.stdout.splitlines()]
    statuses = {row["status"] for row in rows}
    assert "succeeded" in statuses
    assert statuses - {"succeeded", "failed", "queued", "submitted", "retrying"} == set()
    assert statuses != {"succeeded"}  # the run was cut short
    status = subprocess.run(
        bulkupdate("status", str(journal)), capture_output=True, text=True, check=True
    )
    assert "running" in status.stdout or "not finished" in status.stdout
