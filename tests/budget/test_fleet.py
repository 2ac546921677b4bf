"""Several ``bulkupdate run`` processes on one sandbox account, sharing its budget through
a real Redis (``--budget``): within the job cap and the rate limit together; one killed
while it holds slots and resumed; Redis stopped mid-run and started again. The same three
without ``--budget`` show what it spares them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import SandboxProcess, bulkupdate, journal_says, wait_until
from tests.redis_server import RedisServer

PER_PROCESS = 1_200
RATE = "50"
OUTAGE = 5.0  # seconds Redis is away in the outage test


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def account() -> Iterator[SandboxProcess]:
    server = SandboxProcess(
        "--job-cap", "20", "--rate", RATE, "--op-ms", "2", "--pending-ms", "10", "--seed", "7"
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
def sandbox(account: SandboxProcess) -> SandboxProcess:
    account.reset()
    return account


def slices(folder: Path, count: int, size: int = PER_PROCESS) -> list[Path]:
    paths = []
    for n in range(count):
        path = folder / f"slice{n}.txt"
        start = 2_000_000 + n * size
        path.write_text("".join(f"+1312{start + k:07d}\n" for k in range(size)))
        paths.append(path)
    return paths


def run_args(numbers: Path, base_url: str, *extra: str) -> list[str]:
    return bulkupdate(
        "run", str(numbers), "--set", "tags=fleet", "--base-url", base_url,
        "--journal", str(numbers.with_suffix(".journal")), "--batch-size", "100",
        "--rate", RATE, "--log-format", "json", *extra,
    )  # fmt: skip


def environment(key: str) -> dict[str, str]:
    return {**os.environ, "TELNYX_API_KEY": key, "PYTHONUNBUFFERED": "1"}


def start(args: list[str], key: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=environment(key), stdout=out, stderr=out)


def events(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def finish(runs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    for run, log in zip(runs, logs, strict=True):
        assert run.wait(timeout=120) == 0, log.read_text()


def applied_once(sandbox: SandboxProcess, count: int) -> dict[str, Any]:
    stats = sandbox.stats()
    assert stats["numbers"]["applied"] == count  # every number updated, none twice
    assert stats["numbers"]["reapplied_after_success"] == 0
    assert stats["jobs"]["overlapping"] == 0  # no duplicate job
    return stats


def test_three_processes_share_one_account_through_redis(
    sandbox: SandboxProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    paths = slices(tmp_path, 3)
    logs = [path.with_suffix(".log") for path in paths]
    runs = [
        start(run_args(path, sandbox.base_url, "--budget", redis_server.url), "fleet", log)
        for path, log in zip(paths, logs, strict=True)
    ]
    finish(runs, logs)
    stats = applied_once(sandbox, 3 * PER_PROCESS)
    assert stats["jobs"]["refused_at_cap"] == 0
    assert stats["jobs"]["peak_active"] <= 20
    assert stats["requests"]["by_status"]["429"] < stats["requests"]["total"] / 100
    started = events(logs[0])[0]
    assert started["event"] == "run_started"
    assert started["budget"] == redis_server.url.replace("budget-secret", "***")


def test_three_processes_without_a_shared_budget_collide(tmp_path: Path) -> None:
    # Jobs of 1 s, so that the three runs' 24 jobs are all running at once whatever
    # their start-ups: each holds its own twenty slots, and the account refuses the
    # surplus. (429s come too on longer runs, as benchmarks/fleet.py shows; the headers'
    # account-wide budget keeps runs this short clear of them.)
    slow = SandboxProcess(
        "--job-cap", "20", "--rate", RATE, "--op-ms", "10", "--pending-ms", "10", "--seed", "7"
    )  # fmt: skip
    try:
        paths = slices(tmp_path, 3, size=800)
        logs = [path.with_suffix(".log") for path in paths]
        runs = [
            start(run_args(path, slow.base_url), "alone", log)
            for path, log in zip(paths, logs, strict=True)
        ]
        finish(runs, logs)
        stats = applied_once(slow, 3 * 800)
    finally:
        slow.stop()
    assert stats["jobs"]["refused_at_cap"] > 0


def test_a_process_killed_holding_slots_leaves_them_to_the_others(
    sandbox: SandboxProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    paths = slices(tmp_path, 3)
    logs = [path.with_suffix(".log") for path in paths]
    budget = ("--budget", redis_server.url)
    runs = [
        start(run_args(path, sandbox.base_url, *budget), "killed", log)
        for path, log in zip(paths, logs, strict=True)
    ]
    journal = paths[0].with_suffix(".journal")
    running = "SELECT COUNT(*) FROM jobs WHERE status IS NULL"
    assert wait_until(lambda: journal_says(journal, running) >= 3, runs[0])
    runs[0].send_signal(signal.SIGKILL)
    runs[0].wait(timeout=10)
    finish(runs[1:], logs[1:])
    resumed = subprocess.run(
        bulkupdate("resume", str(journal), *budget),
        env=environment("killed"),
        capture_output=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    stats = applied_once(sandbox, 3 * PER_PROCESS)
    assert stats["jobs"]["refused_at_cap"] == 0
    assert stats["jobs"]["peak_active"] <= 20


def test_redis_stopped_mid_run_loses_nothing(
    sandbox: SandboxProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    (path,) = slices(tmp_path, 1)
    log = path.with_suffix(".log")
    # Forty-eight jobs: the first twenty leave the rest to go after Redis is back.
    args = run_args(path, sandbox.base_url, "--budget", redis_server.url, "--batch-size", "25")
    run = start(args, "outage", log)
    journal = path.with_suffix(".journal")
    created = "SELECT COUNT(*) FROM jobs"
    ended = "SELECT COUNT(*) FROM jobs WHERE status IS NOT NULL"
    try:
        assert wait_until(lambda: journal_says(journal, created) >= 3, run)
        redis_server.stop()
        stopped_at = time.monotonic()
        ended_before = journal_says(journal, ended)

        def noticed_and_polled_on() -> bool:
            told = any(e["event"] == "budget_unavailable" for e in events(log))
            return told and journal_says(journal, ended) > ended_before

        assert wait_until(noticed_and_polled_on, run)
        # The outage the run must ride out: five seconds, as a restart might take.
        time.sleep(max(0.0, stopped_at + OUTAGE - time.monotonic()))
        # New jobs waited for Redis: the run is not over, and no job beyond the slots
        # it held when Redis went has been created.
        assert run.poll() is None
        assert journal_says(journal, created) <= ended_before + 20
    finally:
        redis_server.start()
    finish([run], [log])
    names = [e["event"] for e in events(log)]
    told = [name for name in names if name.startswith("budget_")]
    assert told[0] == "budget_unavailable"
    assert told[-1] == "budget_restored"
    stats = applied_once(sandbox, PER_PROCESS)
    assert stats["jobs"]["refused_at_cap"] == 0
