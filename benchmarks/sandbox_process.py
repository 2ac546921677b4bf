"""``bulkupdate sandbox`` in a child process, and the inputs benchmarks feed it.

The sandbox runs in its own process so that the CPU a benchmark measures is the client's
alone, as it would be against Telnyx.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import phonenumbers


class ServerProcess:
    """A server in a child process that prints its URL as its first line (``base_url``);
    stop it when done."""

    def __init__(self, command: Sequence[str], name: str) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.process.kill()
            raise RuntimeError(f"{name} did not start: {self.base_url!r}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SandboxProcess(ServerProcess):
    """A sandbox on a free loopback port, started with ``flags``; stop it when done."""

    def __init__(self, flags: Sequence[str] = ()) -> None:
        command = [sys.executable, "-m", "bulkupdate", "sandbox", "--port", "0", *flags]
        super().__init__(command, "the sandbox")

    def stats(self) -> dict[str, Any]:
        root = self.base_url.removesuffix("/v2")
        with urllib.request.urlopen(f"{root}/_sandbox/stats") as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats


def random_numbers(count: int, rng: random.Random, taken: set[str]) -> list[str]:
    """Distinct valid US numbers scattered over the numbering plan."""
    numbers: list[str] = []
    while len(numbers) < count:
        area, exchange = rng.randint(201, 989), rng.randint(200, 999)
        number = f"+1{area}{exchange}{rng.randint(0, 9999):04d}"
        if number in taken or not phonenumbers.is_valid_number(phonenumbers.parse(number)):
            continue
        taken.add(number)
        numbers.append(number)
    return numbers
