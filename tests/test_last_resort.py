"""No traceback reaches a user: bugs are one line (and a JSON event), closed pipes are quiet."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import bulkupdate.runs.journal as journal_module
import bulkupdate.runs.run_command as runner_module
from bulkupdate.cli import main
from bulkupdate.last_resort import first_leaf
from bulkupdate.runs.events import EventLog
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.run_options import EXIT_INTERNAL
from tests.processes import SandboxProcess, bulkupdate

KEY = "KEYlastresort0123456789abcdef"


@pytest.fixture
def numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELNYX_API_KEY", KEY)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"+1312{2_000_000 + n:07d}\n" for n in range(300)))
    return path


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    server = SandboxProcess("--rate", "500", "--op-ms", "1", "--pending-ms", "5")
    yield server
    server.stop()


def test_a_bug_is_one_line_and_the_json_log_has_the_details(
    numbers: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> int:
        raise ExceptionGroup("tasks", [ValueError(f"odd \x1b[2J state near {KEY}\nsecond")])

    monkeypatch.setattr(runner_module, "dry_run", broken)
    argv = ["run", str(numbers), "--set", "tags=a", "--dry-run"]
    assert main(argv) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("bulkupdate: internal error in 'run': ValueError: odd \\x1b[2J state")
    assert "This is a bug in bulkupdate" in err
    assert "--log-format json logs the details" in err
    assert KEY not in err

    assert main([*argv, "--log-format", "json"]) == EXIT_INTERNAL
    first, last = capsys.readouterr().err.splitlines()
    event = orjson.loads(first)
    assert event["event"] == "internal_error"
    assert event["error"] == "ValueError"
    assert "Traceback" in event["traceback"]
    assert "in broken" in event["traceback"]
    assert KEY not in first
    assert last.startswith("bulkupdate: internal error")


def test_a_bug_mid_run_leaves_the_journal_resumable(
    numbers: Path,
    sandbox: SandboxProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal = tmp_path / "run.journal"
    real_settled = Journal.settled
    calls = []

    def settled_once_then_fail(self: Journal, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in the middle of the run")
        real_settled(self, *args, **kwargs)

    monkeypatch.setattr(journal_module.Journal, "settled", settled_once_then_fail)
    argv = [
        "run", str(numbers), "--set", "tags=a", "--base-url", sandbox.base_url,
        "--journal", str(journal), "--batch-size", "100", "--max-active-jobs", "1",
    ]  # fmt: skip
    assert main(argv) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"run interrupted; resume with: bulkupdate resume {journal}" in err
    assert "internal error in 'run': RuntimeError: a bug in the middle of the run" in err

    monkeypatch.setattr(journal_module.Journal, "settled", real_settled)
    recorded = Journal.open(journal)
    try:
        assert recorded.meta("status") == "interrupted"
    finally:
        recorded.close()
    assert main(["resume", str(journal)]) == 0
    assert "300 succeeded" in capsys.readouterr().err
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0


def test_an_event_log_whose_reader_went_away_lets_the_run_go_on() -> None:
    class Gone:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise AssertionError("not reached")

    log = EventLog(Gone(), fmt="text")  # type: ignore[arg-type]
    log.emit("run_started", journal="j", inputs=["a"], kind="update", rate=1, max_active_jobs=1)
    log.emit("run_finished", totals={}, elapsed_s=1.0, exit_code=0)
    assert log.stream_closed


def test_first_leaf_unwraps_task_groups() -> None:
    inner = KeyError("x")
    assert first_leaf(ExceptionGroup("a", [ExceptionGroup("b", [inner])])) is inner
    assert first_leaf(inner) is inner


def test_a_run_whose_stderr_reader_went_away_ends_with_its_own_exit_code(
    numbers: Path, tmp_path: Path
) -> None:
    with numbers.open("a") as file:
        file.write("not a number\n")  # so the run's own code is 1
    journal = tmp_path / "run.journal"
    argv = ["run", str(numbers), "--set", "tags=a", "--sandbox", "--journal", str(journal)]
    with subprocess.Popen(
        bulkupdate(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as process:
        assert process.stderr is not None
        process.stderr.close()  # `2>&1 | head -0`: every write to stderr now fails
        code = process.wait(timeout=60)
    assert code == 1  # not 70 (a bug) nor 120 (Python failing to flush at exit)
    recorded = Journal.open(journal)
    try:
        assert recorded.meta("status") == "finished"
        assert recorded.counts()["succeeded"] == 300
    finally:
        recorded.close()
