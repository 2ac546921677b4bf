"""How close the engine gets to the fastest run the API's limits allow.

For each scenario it starts the sandbox in a child process (so the client's CPU is its
own) with a request-rate limit R, a job cap C and a per-number apply time, runs the
engine in this process over N numbers, and compares the wall time with a lower bound:

    bound = max(submissions / R, jobs / C × job duration) + job duration

where submissions = jobs = ⌈N / 1000⌉ (the fewest requests and jobs that can carry N
numbers) and job duration = the sandbox's pending time + 1000 × the per-number time.
Efficiency = bound / measured. Also reported: requests used, 429s received, the
client's CPU seconds.

    python -m benchmarks.throughput                  # all scenarios
    python -m benchmarks.throughput --scenario cap   # one of: rate, cap, unowned
    python -m benchmarks.throughput --scenario unowned --ownership bisect

Targets (issue 4): efficiency >= 0.90 rate-bound and cap-bound, >= 0.80 with 1% unowned.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import phonenumbers

from bulkupdate import BulkUpdater, NumberFiles
from bulkupdate.outcomes import Outcome, Totals

BATCH = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    numbers: int
    rate: float  # sandbox limit, requests per second
    job_cap: int
    op_ms: float
    pending_ms: float = 50.0
    unowned_share: float = 0.0

    @property
    def job_seconds(self) -> float:
        return self.pending_ms / 1000 + BATCH * self.op_ms / 1000

    def bound(self, total_numbers: int) -> float:
        jobs = math.ceil(total_numbers / BATCH)
        return max(jobs / self.rate, jobs / self.job_cap * self.job_seconds) + self.job_seconds


SCENARIOS = {
    # Jobs are quick; the request rate is what limits: 200 jobs at 5 requests a second.
    "rate": Scenario("rate-bound", numbers=200_000, rate=5, job_cap=20, op_ms=1.0),
    # Jobs are slow; the 10 job slots are what limit.
    "cap": Scenario("cap-bound", numbers=200_000, rate=20, job_cap=10, op_ms=2.5),
    # Cap-bound, and 1% of the input (spread across batches) is not the account's.
    "unowned": Scenario(
        "1% unowned", numbers=200_000, rate=100, job_cap=20, op_ms=5.0, unowned_share=0.01
    ),
}


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


class SandboxProcess:
    """``bulkupdate sandbox`` in a child process, on a free loopback port."""

    def __init__(self, scenario: Scenario, inventory: Path | None) -> None:
        command = [
            sys.executable,
            "-m",
            "bulkupdate",
            "sandbox",
            "--port",
            "0",
            "--rate",
            str(scenario.rate),
            "--job-cap",
            str(scenario.job_cap),
            "--op-ms",
            str(scenario.op_ms),
            "--pending-ms",
            str(scenario.pending_ms),
        ]
        if inventory is not None:
            command += ["--inventory", str(inventory)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.process.kill()
            raise RuntimeError(f"the sandbox did not start: {self.base_url!r}")

    def stats(self) -> dict[str, Any]:
        root = self.base_url.removesuffix("/v2")
        with urllib.request.urlopen(f"{root}/_sandbox/stats") as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


class CountingSink:
    def __init__(self) -> None:
        self.totals = Totals()

    def record(self, outcome: Outcome) -> None:
        self.totals.add(outcome)


async def run_engine(base_url: str, path: Path, rate: float, cap: int, ownership: str) -> Any:
    async with BulkUpdater(
        api_key="bench", base_url=base_url, rate=rate, max_active_jobs=cap, ownership=ownership
    ) as updater:
        return await updater.update(
            NumberFiles(str(path)), {"tags": ["benchmark"]}, sink=CountingSink()
        )


def run_scenario(scenario: Scenario, ownership: str, rate_factor: float) -> dict[str, Any]:
    rng = random.Random(7)
    taken: set[str] = set()
    owned = random_numbers(scenario.numbers, rng, taken)
    with tempfile.TemporaryDirectory() as tmp:
        inventory = None
        numbers = owned
        if scenario.unowned_share:
            inventory = Path(tmp, "inventory.txt")
            inventory.write_text("\n".join(owned) + "\n")
            strangers = random_numbers(int(scenario.numbers * scenario.unowned_share), rng, taken)
            numbers = owned[:]
            for stranger in strangers:  # spread across batches
                numbers.insert(rng.randrange(len(numbers) + 1), stranger)
        path = Path(tmp, "numbers.txt")
        path.write_text("\n".join(numbers) + "\n")
        sandbox = SandboxProcess(scenario, inventory)
        try:
            cpu = time.process_time()
            started = time.monotonic()
            result = anyio.run(
                run_engine,
                sandbox.base_url,
                path,
                scenario.rate * rate_factor,
                scenario.job_cap,
                ownership,
            )
            elapsed = time.monotonic() - started
            cpu = time.process_time() - cpu
            stats = sandbox.stats()
        finally:
            sandbox.stop()
    bound = scenario.bound(len(numbers))
    totals = result.totals
    return {
        "scenario": scenario.name,
        "numbers": len(numbers),
        "R": scenario.rate,
        "C": scenario.job_cap,
        "job_s": round(scenario.job_seconds, 3),
        "bound_s": round(bound, 1),
        "measured_s": round(elapsed, 1),
        "efficiency": round(bound / elapsed, 3),
        "requests": stats["requests"]["total"],
        "429s": stats["requests"]["by_status"].get("429", 0),
        "jobs": stats["jobs"]["created"],
        "peak_active": stats["jobs"]["peak_active"],
        "peak_rps": stats["rate"]["peak_in_any_second"],
        "reapplied": stats["numbers"]["reapplied_after_success"],
        "succeeded": totals.succeeded,
        "failed": totals.failed,
        "client_cpu_s": round(cpu, 2),
        "ownership": ownership,
        "ownership_requests": result.stats.ownership.bisect_requests
        + result.stats.ownership.inventory_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--ownership", choices=["auto", "bisect", "inventory"], default="auto")
    parser.add_argument(
        "--numbers", type=int, help="override the scenario's input size (for a quick look)"
    )
    parser.add_argument(
        "--rate-factor",
        type=float,
        default=1.0,
        help="client rate as a multiple of the sandbox's (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object a scenario")
    args = parser.parse_args()
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", file=sys.stderr)
    for name in names:
        scenario = SCENARIOS[name]
        if args.numbers:
            scenario = Scenario(**{**scenario.__dict__, "numbers": args.numbers})
        row = run_scenario(scenario, args.ownership, args.rate_factor)
        if args.json:
            print(json.dumps(row))
        else:
            print(" ".join(f"{key}={value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
