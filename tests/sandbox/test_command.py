"""``bulkupdate sandbox`` as a user starts it: a real process, read its URL, Ctrl-C it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkupdate.cli import build_parser
from bulkupdate.sandbox import provision_numbers, read_numbers, write_numbers
from bulkupdate.sandbox.command import _settings, run_command

from .conftest import NUMBERS

WAIT = 30  # seconds: a bound on process start and stop, not a pause


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(WAIT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def launch(started: list[subprocess.Popen[str]], *flags: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bulkupdate", "sandbox", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(process)
    return process


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        result: dict[str, object] = json.load(response)
        return result


def test_the_command_prints_its_url_first_serves_and_stops_on_ctrl_c(
    sandbox_process: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    out = tmp_path / "numbers.txt"
    process = launch(
        sandbox_process, "--provision", "25", "--provision-out", str(out), "--seed", "3"
    )
    assert process.stdout is not None
    first = process.stdout.readline().rstrip("\n")  # blocks until the line is flushed
    assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+/v2", first), first
    stats = get_json(first.removesuffix("/v2") + "/_sandbox/stats")
    assert set(stats) >= {"requests", "jobs", "rate", "numbers"}
    assert stats["numbers"]["known"] == 25  # type: ignore[index]
    assert read_numbers(out) == provision_numbers(25, seed=3)

    process.send_signal(signal.SIGINT)
    assert process.wait(WAIT) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()
    # The rest of stdout (readline may have buffered it already): the human summary.
    assert f"25 numbers provisioned to {out}" in process.stdout.read()


def test_provision_writes_a_temp_file_by_default(
    sandbox_process: list[subprocess.Popen[str]],
) -> None:
    process = launch(sandbox_process, "--provision", "3")
    assert process.stdout is not None
    process.stdout.readline()
    summary = ""
    while "provisioned to" not in summary:
        summary = process.stdout.readline()
    path = Path(summary.split("provisioned to ", 1)[1].strip())
    try:
        assert len(read_numbers(path)) == 3
    finally:
        path.unlink()
    process.terminate()  # SIGTERM stops it cleanly too
    assert process.wait(WAIT) == 0


@pytest.mark.parametrize(
    "flags",
    [
        ["--fail-rate", "1.5"],
        ["--rate", "0"],
        ["--op-ms", "-1"],
        ["--job-cap", "0"],
        ["--port", "70000"],
        ["--seed", "x"],
        ["--own-all", "--provision", "3"],
    ],
)
def test_bad_flag_values_exit_2_with_a_message(flags: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bulkupdate", "sandbox", *flags],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 2
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr


def parse(*flags: str) -> object:
    return build_parser().parse_args(["sandbox", *flags])


def test_bad_files_and_combinations_are_refused_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("+13125550100\n3125550101\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2: '3125550101' is not a \+E.164 number"):
        _settings(parse("--inventory", str(bad)))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        _settings(parse("--unowned-numbers", str(tmp_path / "missing.txt")))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--provision-out needs --provision"):
        _settings(parse("--provision-out", str(tmp_path / "x.txt")))  # type: ignore[arg-type]
    assert run_command(parse("--inventory", str(bad))) == 2  # type: ignore[arg-type]
    invalid = write_numbers(["+15555550100"], tmp_path / "invalid.txt")  # +E.164, not valid
    assert run_command(parse("--inventory", str(invalid))) == 2  # type: ignore[arg-type]
    assert "not valid: +15555550100" in capsys.readouterr().err


def test_flags_map_onto_the_config(tmp_path: Path) -> None:
    numbers = write_numbers(NUMBERS[:4], tmp_path / "inventory.txt")
    flaky = write_numbers(["# flaky ones", NUMBERS[0], ""], tmp_path / "flaky.txt")
    config, notes = _settings(
        parse(  # type: ignore[arg-type]
            "--inventory", str(numbers), "--flaky-numbers", str(flaky), "--rate", "7.5",
            "--retry-after", "--op-ms", "0", "--job-ttl", "2", "--stall-rate", "0.5",
            "--api-key", "KEY", "--emergency-job-cap", "9",
        )
    )  # fmt: skip
    assert config.inventory == tuple(NUMBERS[:4])
    assert not config.own_all
    assert config.flaky_numbers == frozenset({NUMBERS[0]})
    assert (config.rate, config.retry_after, config.op_ms, config.job_ttl) == (7.5, True, 0.0, 2.0)
    assert (config.stall_rate, config.api_key, config.emergency_job_cap) == (0.5, "KEY", 9)
    assert notes == [f"4 numbers from {numbers}"]
    default, _ = _settings(parse())  # type: ignore[arg-type]
    assert default.own_all
