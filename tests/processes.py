"""Child processes for tests: the command, and a sandbox that outlives the runs it serves."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
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

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()
