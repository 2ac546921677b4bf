"""``bulkupdate run --from-account``: the account's own numbers, chosen by filters, each
updated exactly once, even though the update moves them out of the filters while the
listing is read by offset.

The real command against one sandbox child for the module: runs in child processes, so
that they can be killed; status, report, dry runs and usage errors through the command's
entry point in this process. 20,000 numbers, 8,000 on connection A, 3,000 on C, 5,000
tagged "keep" on D, with transient per-number failures and job POSTs whose answer is
lost. The sandbox's own books (every number's settings and when a job last changed it)
say what happened.
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.cli import main
from tests.processes import SandboxProcess, bulkupdate, journal_says, wait_until

A, B, C, D, E = (f"1293384261075731{n:03d}" for n in (100, 200, 300, 400, 500))
RATE = "100"  # slow enough that jobs finish while the listing is still being read


@dataclass
class Account:
    sandbox: SandboxProcess
    numbers: list[str]
    on: dict[str, set[str]]  # connection → the numbers that start on it

    def post_count(self) -> int:
        by_endpoint = self.sandbox.stats()["requests"]["by_endpoint"]
        return int(by_endpoint["POST /phone_numbers/jobs/update_phone_numbers"])

    def listing_count(self) -> int:
        return int(self.sandbox.stats()["requests"]["by_endpoint"]["GET /phone_numbers"])

    def books(self, query: str = "") -> dict[str, dict[str, Any]]:
        """The records of the numbers that match ``query`` (every number by default), as
        the sandbox has them now, 250 a page."""
        found: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            url = f"{self.sandbox.base_url}/phone_numbers?page[size]=250&page[number]={page}"
            request = urllib.request.Request(
                url + query,
                headers={"Authorization": "Bearer books"},
            )
            with urllib.request.urlopen(request) as answer:
                data = json.load(answer)["data"]
            found.update((item["phone_number"], item) for item in data)
            if len(data) < 250:
                return found
            page += 1


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    # Four area codes, shuffled: each connection's numbers are spread over the listing.
    numbers = [f"+1{area}{200 + n // 10_000}{n % 10_000:04d}" for area in (212, 312, 415, 720)
               for n in range(5_000)]  # fmt: skip
    random.Random(11).shuffle(numbers)
    on = {A: set(numbers[:8_000]), C: set(numbers[8_000:11_000]), D: set(numbers[11_000:16_000])}
    inventory = tmp_path_factory.mktemp("account") / "inventory.jsonl"
    with inventory.open("w") as out:
        for number in numbers:
            settings: dict[str, Any] = {"phone_number": number}
            for connection, members in on.items():
                if number in members:
                    settings["connection_id"] = connection
            if number in on[D]:
                settings["tags"] = ["keep"]
            out.write(orjson.dumps(settings).decode() + "\n")
    sandbox = SandboxProcess(
        "--inventory", str(inventory), "--rate", "1000", "--op-ms", "0.05", "--pending-ms", "5",
        "--fail-rate", "0.05", "--drop-after-create-rate", "0.05", "--seed", "5",
    )  # fmt: skip
    yield Account(sandbox, numbers, on)
    sandbox.stop()


def environment() -> dict[str, str]:
    return {**os.environ, "TELNYX_API_KEY": "test-key", "PYTHONUNBUFFERED": "1"}


def migrate(account: Account, journal: Path, source: str, target: str, *flags: str) -> list[str]:
    """The command that moves ``source``'s numbers to ``target``; ``journal`` is a folder
    (``--journal-dir``, as a command run again and again uses) or a journal's path."""
    where = "--journal-dir" if journal.is_dir() else "--journal"
    return bulkupdate(
        "run", "--from-account", "--filter", f"connection_id={source}",
        "--set", f"connection_id={target}", "--set", "tags=moved",
        "--base-url", account.sandbox.base_url, "--rate", RATE, where, str(journal), *flags,
    )  # fmt: skip


def finish(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=environment(), capture_output=True, text=True, timeout=120)


def test_a_migration_moves_exactly_the_numbers_that_matched_and_a_second_run_finds_none(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posts = account.post_count()
    done = finish(migrate(account, tmp_path, A, B))
    assert done.returncode == 0, done.stderr
    assert "8,000 numbers match" in done.stderr
    [journal] = tmp_path.glob("*.journal")

    after = account.books()
    moved = {n for n, item in after.items() if item["connection_id"] == B}
    assert moved == account.on[A]  # every one of them, and only them
    assert all(after[n]["tags"] == ["moved"] for n in moved)
    touched = {n for n, item in after.items() if item["updated_at"] != item["created_at"]}
    assert touched - account.on[C] == account.on[A]  # no other number touched (C: see below)
    stats = account.sandbox.stats()
    assert stats["numbers"]["reapplied_after_success"] == 0
    assert stats["jobs"]["overlapping"] == 0  # no duplicate job
    assert stats["faults"]["dropped_after_create"] + stats["numbers"]["failed"] > 0
    # The hard case happened: the listing shrank under the reader while it was read.
    assert journal_says(journal, "SELECT MAX(matching) FROM selection_pages") == 8_000
    assert journal_says(journal, "SELECT MIN(matching) FROM selection_pages") < 8_000
    capsys.readouterr()
    assert main(["status", str(journal), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)["selection"]
    assert (listing["numbers_listed"], listing["done"]) == (8_000, True)
    assert account.post_count() > posts

    # The same command again, the check that the migration is complete: the listing is
    # read afresh (a new journal), the filter matches nothing any more, nothing is sent,
    # exit 0.
    posts, pages = account.post_count(), account.listing_count()
    again = finish(migrate(account, tmp_path, A, B))
    assert again.returncode == 0, again.stderr
    assert f"no number of the account matches connection_id={A}: nothing to do" in again.stderr
    assert (account.post_count(), account.listing_count()) == (posts, pages + 1)
    assert len(list(tmp_path.glob("*.journal"))) == 2


def test_killed_twice_and_resumed_every_number_is_moved_once(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "c-to-e.journal"
    pages_read = "SELECT COUNT(*) FROM selection_pages"
    listed_before = account.listing_count()
    jobs, ended = "SELECT COUNT(*) FROM jobs", "SELECT COUNT(*) FROM jobs WHERE status IS NOT NULL"

    def reached(pages: int, sql: str) -> bool:
        return journal_says(journal, pages_read) >= pages and journal_says(journal, sql) >= 1

    # Mid-listing with the first job out; then further on, with a job ended.
    moments = [functools.partial(reached, 3, jobs), functools.partial(reached, 8, ended)]
    kills = 0
    for moment in moments:
        with subprocess.Popen(
            migrate(account, journal, C, E, "--quiet"),
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as run:
            if wait_until(moment, run):
                run.send_signal(signal.SIGKILL)
                kills += 1
            run.wait(timeout=30)
        if kills == 1:
            capsys.readouterr()
            assert main(["status", str(journal)]) == 0
            status = capsys.readouterr().out
            assert f"GET /phone_numbers where connection_id={C}: " in status
            assert "of 3,000 that matched at the start" in status
    assert kills == 2
    resumed = finish(bulkupdate("resume", str(journal)))
    assert resumed.returncode == 0, resumed.stderr

    capsys.readouterr()
    assert main(["report", str(journal)]) == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3_000
    assert {row["phone_number"] for row in rows} == account.on[C]  # each once, none missed
    assert {row["status"] for row in rows} == {"succeeded"}
    # No page it had was read again. A kill loses at most two it had not recorded yet: the
    # one the engine reads ahead of the chunk it is queueing, and the one on its way.
    pages = journal_says(journal, pages_read)
    assert account.listing_count() - listed_before <= pages + 2 * kills
    assert set(account.books(f"&filter[connection_id]={E}")) == account.on[C]
    stats = account.sandbox.stats()
    assert stats["numbers"]["reapplied_after_success"] == 0
    assert stats["jobs"]["overlapping"] == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--filter", "has_bundle=true", "--filter", "colour=red"],
            "filter has_bundle does not belong here: GET /phone_numbers",
        ),
        (["--filter", "colour=red"], "unknown filter 'colour'"),
        ([], "--from-account needs at least one --filter NAME=VALUE"),
        (["--filter", "status=active", "numbers.txt"], "give no input files with it"),
        (["--filter", "status=active", "--default-region", "US"], "--default-region say how"),
    ],
)
def test_a_selection_that_cannot_be_made_is_a_usage_error_and_sends_nothing(
    account: Account, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = account.sandbox.stats()["requests"]["total"]
    argv = ["run", "--from-account", "--set", "tags=x", "--base-url", account.sandbox.base_url]
    assert main([*argv, *flags]) == 2  # the command's own entry point, in this process
    assert message in capsys.readouterr().err
    assert account.sandbox.stats()["requests"]["total"] == requests


def test_a_dry_run_counts_the_selection_and_shows_the_first_request(
    account: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "test-key")
    posts = account.post_count()
    code = main([
        "run", "--from-account", "--filter", f"connection_id={D}", "--filter", "tag=keep",
        "--set", "hd_voice_enabled=true", "--base-url", account.sandbox.base_url, "--dry-run",
    ])  # fmt: skip
    plan = capsys.readouterr().out
    assert code == 0
    assert "numbers that match: 5,000 (the listing's meta.total_results)" in plan
    assert f"update_phone_numbers?filter[tag]=keep&filter[connection_id]={D}" in plan
    body = plan.split("first batch body:")[1]
    assert body.count('"+1') == 1000
    assert account.post_count() == posts
