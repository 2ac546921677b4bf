"""What the journal costs: client CPU for the same run with and without it.

Starts a fast sandbox in a child process (high rate limit, jobs that finish at once),
then runs the engine in this process over N numbers twice: once with no journal, once
journaling every step to SQLite, and reports the client's CPU seconds (user + system)
for each, and the difference.

    python -m benchmarks.journal_cpu [--numbers 1000000]

Target (issue 5): journaling costs under 25% extra client CPU on a 1,000,000-number run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from benchmarks.sandbox_process import SandboxProcess
from bulkupdate.client import ApiClient
from bulkupdate.inputs import NumberFiles, open_input
from bulkupdate.journal import Journal
from bulkupdate.outcomes import Outcome, Totals
from bulkupdate.pipeline import run_engine
from bulkupdate.settings import EngineSettings
from bulkupdate.spec import load_update_spec


class CountingSink:
    def __init__(self) -> None:
        self.totals = Totals()

    def record(self, outcome: Outcome) -> None:
        self.totals.add(outcome)


async def one_run(base_url: str, path: Path, journal: Journal | None) -> Totals:
    spec = load_update_spec(sets=["tags=benchmark"])
    stream = open_input(NumberFiles(str(path)))
    sink = CountingSink()
    async with ApiClient("bench", base_url=base_url, rate=5000) as client:
        await run_engine(
            client,
            spec,
            stream.chunks,
            sink,
            EngineSettings(max_active_jobs=20),
            input_fraction=stream.fraction,
            recorder=journal,
        )
    return sink.totals


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def measure(base_url: str, path: Path, journal_path: Path | None) -> dict[str, Any]:
    journal = Journal.create(journal_path, {"benchmark": True}) if journal_path else None
    started_cpu, started = cpu(), time.monotonic()
    totals = anyio.run(one_run, base_url, path, journal)
    spent, elapsed = cpu() - started_cpu, time.monotonic() - started
    if journal is not None:
        journal.close()
    return {"succeeded": totals.succeeded, "cpu_s": round(spent, 2), "wall_s": round(elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    args = parser.parse_args()
    fast = ["--rate", "5000", "--job-cap", "20", "--op-ms", "0", "--pending-ms", "0"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "numbers.txt")
        with path.open("w") as file:
            for n in range(args.numbers):
                file.write(f"+1312{2_000_000 + n % 8_000_000:07d}\n" if n < 8_000_000 else "")
        results = {}
        for label, journal in (("without journal", None), ("with journal", Path(tmp, "j"))):
            sandbox = SandboxProcess(fast)
            try:
                results[label] = measure(sandbox.base_url, path, journal)
            finally:
                sandbox.stop()
            print(f"{label:16} {results[label]}")
    base = results["without journal"]["cpu_s"]
    extra = results["with journal"]["cpu_s"] - base
    print(f"journal cost: {extra:.2f} CPU s = {extra / base:.0%} of the run without it")


if __name__ == "__main__":
    main()
