"""The command line: exit codes, messages that say what to fix, the report, the examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bulkupdate.cli import main
from tests.processes import SandboxProcess

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPEC = str(EXAMPLES / "spec.toml")


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # journals go to ./bulkupdate-runs/


def rows(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_dry_run_prints_the_plan_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            str(EXAMPLES / "numbers.txt"),
            "--spec",
            SPEC,
            "--default-region",
            "US",
            "--dry-run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "nothing was sent" in out
    assert "entries read:  10" in out
    assert "duplicates:    1" in out
    assert "POST https://api.telnyx.com/v2/phone_numbers/jobs/update_phone_numbers" in out
    assert '"+13125550104"' in out  # (312) 555-0104, normalised
    assert '"forwards_to": "+13035559123"' in out


def test_dry_run_names_rejected_lines_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = tmp_path / "n.txt"
    numbers.write_text("+13125550100\nnonsense\n")
    code = main(["run", str(numbers), "--set", "tags=a", "--dry-run", "--filter", "tag=old"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{numbers}:2: not a phone number: 'nonsense'" in out
    assert "?filter[tag]=old" in out


def test_a_bad_spec_stops_before_anything_with_every_problem(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "run",
            "does-not-matter.txt",
            "--set",
            "hd_voice=true",
            "--set",
            "voice.call_forwarding.forwarding_type=sometimes",
            "--dry-run",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "hd_voice_enabled" in err  # the suggestion
    assert "sometimes" in err
    assert "Traceback" not in err


def test_an_unreadable_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.txt"
    code = main(["run", str(missing), "--set", "tags=a", "--sandbox"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(missing) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-size", "2000"], "1 to 1000"),
        (["--rate", "0"], "--rate"),
        (["--max-active-jobs", "0"], "--max-active-jobs"),
        (["--sandbox", "--base-url", "http://x"], "pick one"),
        (["--default-region", "ZZ"], "--default-region"),
        (["--budget", "localhost:6379"], "--budget must be a Redis URL"),
    ],
)
def test_bad_flags_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(EXAMPLES / "numbers.txt"), "--set", "tags=a", *flags])
    assert code == 2
    assert message in capsys.readouterr().err


def test_no_api_key_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(EXAMPLES / "numbers.txt"), "--set", "tags=a", "--default-region", "US"])
    assert code == 2
    assert "TELNYX_API_KEY" in capsys.readouterr().err


def test_the_first_example_updates_every_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.jsonl"
    code = main(
        [
            "run",
            str(EXAMPLES / "numbers.txt"),
            "--spec",
            SPEC,
            "--default-region",
            "US",
            "--sandbox",
            "--report",
            str(report),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "10 entries, 9 succeeded, 1 duplicates (exit 0)" in err
    assert "bulkupdate: journal bulkupdate-runs/run-" in err
    found = rows(report)
    assert len(found) == 10
    assert sorted(str(row["status"]) for row in found) == ["duplicate"] + ["succeeded"] * 9
    for row in found:
        assert set(row) >= {"status", "attempts", "job_ids", "errors"}
        assert "phone_number" in row or "id" in row


def test_the_second_example_shows_every_kind_of_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.jsonl"
    code = main(
        [
            "run",
            str(EXAMPLES / "numbers-with-problems.txt"),
            "--spec",
            SPEC,
            "--default-region",
            "US",
            "--sandbox",
            "--sandbox-config",
            str(EXAMPLES / "sandbox.toml"),
            "--report",
            str(report),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    by_number = {row.get("phone_number") or row.get("input"): row for row in rows(report)}
    assert by_number["call me maybe"]["status"] == "rejected"
    assert by_number["+13125550190"]["status"] == "failed"  # not the account's
    assert by_number["+13125550180"]["status"] == "failed"  # the field is invalid
    assert by_number["+13125550170"]["status"] == "succeeded"
    assert by_number["+13125550170"]["attempts"] == 2  # retried after a passing failure
    assert "You must own every number in the bulk request" in err
    assert "The field is invalid." in err


def test_a_refused_key_exits_3_and_is_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = SandboxProcess("--api-key", "the-right-key")
    try:
        monkeypatch.setenv("TELNYX_API_KEY", "KEY-wrong-secret-0123456789")
        report = tmp_path / "report.jsonl"
        journal = tmp_path / "run.journal"
        code = main(
            [
                "run", str(EXAMPLES / "numbers.txt"), "--set", "tags=a",
                "--default-region", "US", "--base-url", sandbox.base_url,
                "--journal", str(journal), "--report", str(report),
            ]
        )  # fmt: skip
    finally:
        sandbox.stop()
    captured = capsys.readouterr()
    assert code == 3
    assert "TELNYX_API_KEY" in captured.err
    assert "bulkupdate resume" in captured.err  # fix the key, then carry on
    written = b"".join(path.read_bytes() for path in tmp_path.glob("run.journal*"))
    for text in (captured.out, captured.err, report.read_text(), written.decode("latin-1")):
        assert "KEY-wrong-secret-0123456789" not in text
    assert not [row for row in rows(report) if row["status"] == "failed"]


def test_an_unknown_sandbox_setting_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sandbox.toml"
    config.write_text("fail_rat = 0.1\n")
    code = main(["run", str(EXAMPLES / "numbers.txt"), "--set", "tags=a", "--sandbox",
                 "--sandbox-config", str(config)])  # fmt: skip
    assert code == 2
    assert "fail_rat" in capsys.readouterr().err


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bulkupdate", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("bulkupdate ")


def test_messages_escape_control_characters_in_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(tmp_path / "a\x1b]0;owned\x07.txt"), "--set", "tags=a", "--sandbox"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.rstrip("\n").isprintable()
    assert "a\\x1b]0;owned\\x07.txt: cannot be read" in err


def test_a_dry_run_shows_hostile_lines_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = tmp_path / "n.txt"
    numbers.write_text("+13125550100\n\x1b[2J\u202e\n")
    code = main(["run", str(numbers), "--set", "tags=\u202ex", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 1
    assert all(line.isprintable() for line in out.splitlines())
    assert "'\\x1b[2J\\u202e'" in out
