"""Child processes for tests: the command, a sandbox that outlives the runs it serves, and
bounded waits on what a running command has written to its journal."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def bulkupdate(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkupdate", *args]


class SandboxProcess:
    def __init__(self, *flags: str) -> None:
        self.process = subprocess.Popen(
            bulkupdate("sandbox", "--port", "0", *flags), stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        assert self.base_url.startswith("http://127.0.0.1:"), self.base_url

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url.removesuffix("/v2") + "/_sandbox/stats") as r:
            stats: dict[str, Any] = json.load(r)
        return stats

    def reset(self) -> None:
        """Forget every job, number and count: a fresh account for the next test."""
        url = self.base_url.removesuffix("/v2") + "/_sandbox/reset"
        with urllib.request.urlopen(urllib.request.Request(url, method="POST")) as answer:
            assert answer.status == 200

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def journal_says(journal: Path, sql: str) -> int:
    """One number from the journal, read while the run writes it (WAL allows it)."""
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute(sql).fetchone()
    except sqlite3.OperationalError:
        return 0  # created, schema not written yet
    return int(row[0] or 0)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[Any]) -> bool:
    """Wait, at most 30 s, until ``condition`` holds or the run ends on its own."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("the run neither got there nor ended")
