"""The API key kept private, and paths that would destroy or lose something: refused
before anything is sent, the files there left as they were."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import orjson

from bulkupdate.runs.journal import Journal
from tests.hostile.world import KEY, World, run_command

# -- the key -----------------------------------------------------------------------------


def key_refused(world: World, key: str, says: str) -> None:
    world.numbers()
    outcome = world.update("numbers.txt", env={"TELNYX_API_KEY": key})
    world.check(outcome, code=2, says=r"^bulkupdate: error: TELNYX_API_KEY " + says)
    assert key.strip() not in outcome.err


def test_a_key_pasted_with_its_newline(world: World) -> None:
    key_refused(world, KEY + "\n", r"holds a line break at character 47 of 47;.*not shown")


def test_a_key_with_a_space_inside(world: World) -> None:
    key_refused(world, KEY[:10] + " " + KEY[10:], r"holds a space at character 11")


def test_a_key_with_an_escape_sequence(world: World) -> None:
    key_refused(world, KEY + "\x1b[2J", r"holds a control character at character 47")


def test_a_key_of_a_hundred_kilobytes(world: World) -> None:
    key_refused(world, "K" * 100_000, r"is 100,000 characters long")


def test_plain_http_to_another_machine_is_refused(world: World) -> None:
    world.numbers()
    outcome = world.run(
        "run", "numbers.txt", "--set", "tags=a", "--base-url", "http://192.0.2.7/v2"
    )
    world.check(
        outcome, code=2, says=r"plain http to 192\.0\.2\.7 would send the API key unencrypted"
    )


def test_plain_http_from_the_environment_is_refused_too(world: World) -> None:
    world.numbers()
    env = {"TELNYX_BASE_URL": "http://api.telnyx.com/v2"}
    outcome = world.run("run", "numbers.txt", "--set", "tags=a", env=env)
    world.check(
        outcome, code=2, says=r"^bulkupdate: error: TELNYX_BASE_URL http://api\.telnyx\.com"
    )


def test_a_base_url_holding_a_password(world: World) -> None:
    world.numbers()
    url = "https://admin:hunter2@api.telnyx.com/v2"
    outcome = world.run("run", "numbers.txt", "--set", "tags=a", "--base-url", url)
    world.check(outcome, code=2, says=r"--base-url must not hold a user name or password")
    assert "hunter2" not in outcome.err


def test_http_to_localhost_is_this_machine(world: World) -> None:
    world.numbers()
    url = world.base_url.replace("127.0.0.1", "localhost")
    outcome = world.run("run", "numbers.txt", "--set", "tags=a", "--base-url", url)
    world.check(outcome, code=0, says=r"3 entries, 3 succeeded", requests=None, alone=False)


def test_the_key_is_in_no_output_of_any_channel(world: World) -> None:
    """stdout, stderr as text and as JSON, the report, the journal, status, the CSV report."""
    world.file("numbers.txt", f"+13125550100\n{KEY}\nnot a number {KEY}\n")
    journal = world.folder / "run.journal"
    outcome = world.update(
        "numbers.txt",
        "--journal",
        "run.journal",
        "--report",
        "report.jsonl",
        "--log-format",
        "json",
    )
    world.check(outcome, code=1, says=r'"event":"run_finished"', requests=None, alone=False)
    channels = {"stdout": outcome.out, "json log": outcome.err}
    for command in (
        ("status", "run.journal"),
        ("status", "run.journal", "--json"),
        ("report", "run.journal", "--format", "csv"),
    ):
        shown = run_command(list(command), cwd=world.folder, env=world.env)
        assert shown.code == 0, shown.err
        channels[" ".join(command)] = shown.out + shown.err
    channels["report"] = (world.folder / "report.jsonl").read_text()
    channels["journal"] = b"".join(
        p.read_bytes() for p in world.folder.glob("run.journal*")
    ).decode("latin-1")
    text = world.run("status", "run.journal")
    channels["status text"] = text.out
    for name, written in channels.items():
        assert KEY not in written, name
    assert "[redacted]" in channels["report"]  # the input line that held it, redacted
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 2


# -- paths -------------------------------------------------------------------------------


def test_a_report_over_the_input(world: World) -> None:
    world.numbers()
    outcome = world.update("numbers.txt", "--report", "numbers.txt")
    world.check(outcome, code=2, says=r"--report numbers\.txt: is the input numbers\.txt")


def test_a_report_over_the_input_through_a_symlink(world: World) -> None:
    world.numbers()
    os.symlink("numbers.txt", world.folder / "report.jsonl")
    outcome = world.update("numbers.txt", "--report", "report.jsonl")
    world.check(outcome, code=2, says=r"--report report\.jsonl: is the input numbers\.txt")


def test_a_report_over_the_input_through_a_hard_link(world: World) -> None:
    world.numbers()
    os.link(world.folder / "numbers.txt", world.folder / "report.jsonl")
    outcome = world.update("./numbers.txt", "--report", "report.jsonl")
    world.check(outcome, code=2, says=r"--report report\.jsonl: is the input \./numbers\.txt")


def test_a_report_into_a_folder_that_does_not_exist(world: World) -> None:
    world.numbers()
    outcome = world.update("numbers.txt", "--report", "out/report.jsonl")
    world.check(
        outcome, code=2, says=r"--report out/report\.jsonl: the folder .*/out does not exist"
    )


def test_a_report_onto_a_directory(world: World) -> None:
    world.numbers()
    (world.folder / "reports").mkdir()
    outcome = world.update("numbers.txt", "--report", "reports")
    world.check(outcome, code=2, says=r"--report reports: is a directory")


def test_a_report_over_a_file_that_is_not_a_report(world: World) -> None:
    world.numbers()
    world.file("notes.md", "# migration notes\n")
    outcome = world.update("numbers.txt", "--report", "notes.md")
    world.check(outcome, code=2, says=r"--report notes\.md: exists and is not a bulkupdate report")


def test_a_report_over_last_nights_report_is_fine(world: World) -> None:
    world.numbers()
    old = {
        "phone_number": "+13125550100",
        "status": "failed",
        "attempts": 1,
        "job_ids": [],
        "errors": [],
    }
    world.file("report.jsonl", orjson.dumps(old) + b"\n")
    outcome = world.update("numbers.txt", "--report", "report.jsonl")
    world.check(
        outcome,
        code=0,
        says=r"report report\.jsonl \(3 rows\)",
        requests=None,
        changed=["report.jsonl"],
    )
    rows = (world.folder / "report.jsonl").read_bytes().splitlines()
    assert [orjson.loads(row)["status"] for row in rows] == ["succeeded"] * 3


def test_a_journal_over_the_input(world: World) -> None:
    world.numbers()
    outcome = world.update("numbers.txt", "--journal", "numbers.txt")
    world.check(outcome, code=2, says=r"--journal numbers\.txt: is the input numbers\.txt")


def test_a_journal_onto_an_empty_file(world: World) -> None:
    world.numbers()
    world.file("placeholder.journal")
    outcome = world.update("numbers.txt", "--journal", "placeholder.journal")
    world.check(
        outcome,
        code=2,
        says=r"--journal placeholder\.journal: exists and is not a bulkupdate journal",
    )


def test_a_journal_in_a_folder_that_does_not_exist(world: World) -> None:
    world.numbers()
    outcome = world.update("numbers.txt", "--journal", "runs/tonight.journal")
    world.check(
        outcome, code=2, says=r"--journal runs/tonight\.journal: the folder .*/runs does not exist"
    )


def test_the_journal_folder_is_a_file(world: World) -> None:
    world.numbers()
    world.file("bulkupdate-runs", "not a folder\n")
    outcome = world.update("numbers.txt")
    world.check(outcome, code=2, says=r"the journal folder bulkupdate-runs: is not a folder")


def test_the_report_and_the_journal_are_one_file(world: World) -> None:
    world.numbers()
    journal_of(world)
    outcome = world.update("numbers.txt", "--journal", "run.journal", "--report", "run.journal")
    world.check(outcome, code=2, says=r"--report run\.journal: is the run's journal")


def test_status_of_a_file_that_is_not_a_journal(world: World) -> None:
    world.numbers()
    world.file("empty.journal")
    outcome = world.run("status", "empty.journal")
    world.check(outcome, code=2, says=r"journal empty\.journal: not a bulkupdate journal")
    outcome = world.run("report", "numbers.txt")
    world.check(outcome, code=2, says=r"journal numbers\.txt: not a bulkupdate journal")


def test_a_report_out_over_the_runs_input(world: World) -> None:
    world.numbers()
    journal_of(world)
    outcome = world.run("report", "run.journal", "--format", "csv", "--out", "numbers.txt")
    world.check(outcome, code=2, says=r"--out numbers\.txt: is the input numbers\.txt")


def test_report_and_status_read_through_a_closed_pipe(world: World) -> None:
    journal_of(world, numbers=20_000)  # a report far bigger than a pipe's buffer
    for command in ("report", "status"):
        # `bulkupdate report run.journal | head -1`, and the exit code of bulkupdate
        shell = f"'{sys.executable}' -m bulkupdate {command} run.journal | head -1"
        piped = subprocess.run(
            ["bash", "-c", shell + "; exit ${PIPESTATUS[0]}"],
            cwd=world.folder,
            env=world.env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert piped.returncode == 0, piped.stderr
        assert piped.stderr == b""
        assert len(piped.stdout.splitlines()) == 1


def journal_of(world: World, numbers: int = 3) -> None:
    """A journal of a run over numbers.txt, written directly (quicker than a run)."""
    settings = {"inputs": [{"path": "numbers.txt", "size": 0, "sha256": ""}]}
    journal = Journal.create(world.folder / "run.journal", settings)
    journal.read([f"+1312{2_000_000 + n:07d}" for n in range(numbers)], [], [])
    journal.close()
