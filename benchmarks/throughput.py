"""How close a run gets to the fastest one the API's limits allow, beside the official SDK.

Each scenario starts the sandbox in a child process (rate limit R under a rate model, job
cap C, jobs of T seconds, 5% transient per-number failures) and runs, one after the other
and each against a fresh sandbox with the same settings:

* ``bulkupdate run`` as a user runs it (a child process, journal on), and
* the peer: a script on Telnyx's official ``telnyx`` SDK (``benchmarks/sdk_peer.py``).

Both are timed from launch to exit. For J = ⌈owned numbers / 1000⌉ first-pass jobs:

    bound = max((J − 1) / R + T, ⌈J / C⌉ · T)

a true lower bound: J POSTs cannot go out faster than R a second and the last job takes T;
C slots hold at most C jobs of T seconds at a time. Polls, retries of failed numbers and
any ownership work are extra, not part of the bound. Goodput efficiency = (share of the
owned numbers updated, from the sandbox's books) × bound ÷ wall.

    python -m benchmarks.throughput                     # every scenario
    python -m benchmarks.throughput --scenario sliding  # one (see --help for names)
    python -m benchmarks.throughput --no-peer --numbers 50000

Targets: bulkupdate ≥ 0.88 rate-bound under every model with headers on and off, ≥ 0.88
cap-bound, ≥ 0.80 with 1% unowned; every number updated; above the peer everywhere.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.sandbox_process import SandboxProcess, random_numbers

BATCH = 1000
FAIL_RATE = 0.05


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float  # the sandbox's limit, requests a second
    job_cap: int
    op_ms: float
    pending_ms: float = 50.0
    numbers: int = 200_000
    model: str = "fixed"
    headers: bool = True
    unowned_share: float = 0.0
    ownership: str = "auto"
    extra_flags: tuple[str, ...] = field(default=())

    @property
    def job_seconds(self) -> float:
        return (self.pending_ms + BATCH * self.op_ms) / 1000

    def bound(self, owned: int) -> float:
        jobs = math.ceil(owned / BATCH)
        return max(
            (jobs - 1) / self.rate + self.job_seconds,
            math.ceil(jobs / self.job_cap) * self.job_seconds,
        )

    def sandbox_flags(self, inventory: Path) -> list[str]:
        flags = [
            "--rate", str(self.rate), "--job-cap", str(self.job_cap),
            "--op-ms", str(self.op_ms), "--pending-ms", str(self.pending_ms),
            "--fail-rate", str(FAIL_RATE), "--seed", "7", "--rate-model", self.model,
        ]  # fmt: skip
        if not self.headers:
            flags.append("--no-rate-headers")
        return [*flags, "--inventory", str(inventory), *self.extra_flags]


# 0.5 s jobs at 10 requests a second: the request rate is what limits.
RATE_BOUND = Scenario("rate-bound", rate=10.0, job_cap=20, op_ms=0.45)


def _rate_bound(model: str, *, headers: bool = True) -> Scenario:
    names = {"fixed": "fixed windows", "sliding": "sliding log", "token-bucket": "token bucket"}
    name = f"rate-bound, {names[model]}" + ("" if headers else ", no headers")
    return replace(RATE_BOUND, name=name, model=model, headers=headers)


SCENARIOS = {
    **{model: _rate_bound(model) for model in ("fixed", "sliding", "token-bucket")},
    **{
        f"{model}-no-headers": _rate_bound(model, headers=False)
        for model in ("fixed", "sliding", "token-bucket")
    },
    # Jobs are slow; the 20 job slots are what limit.
    "cap": Scenario("cap-bound", rate=50.0, job_cap=20, op_ms=4.95),
    # Cap-bound, and 1% of the input (spread across the batches) is not the account's.
    "unowned": Scenario("1% unowned", rate=100.0, job_cap=20, op_ms=5.0, unowned_share=0.01),
}


def write_inputs(scenario: Scenario, folder: Path) -> tuple[Path, Path, int]:
    """The number file, the account's inventory, and how many of the numbers are owned.

    The sandbox is given the account's numbers up front, as a real account has them:
    adopting each new number on sight costs the sandbox 35 ms a 1000-number job, which
    would make it, not the API's limits, what a run waits for.
    """
    owned, numbers = _numbers(scenario.numbers, scenario.unowned_share)
    inventory = folder / "inventory.txt"
    inventory.write_text("\n".join(owned) + "\n")
    path = folder / "numbers.txt"
    path.write_text("\n".join(numbers) + "\n")
    return path, inventory, len(owned)


@functools.cache
def _numbers(count: int, unowned_share: float) -> tuple[list[str], list[str]]:
    """The account's numbers, and the input: those with strangers spread among them.
    The same every time (20 s of work for 200,000: made once per invocation)."""
    rng = random.Random(7)
    taken: set[str] = set()
    owned = random_numbers(count, rng, taken)
    numbers = owned
    if unowned_share:
        strangers = random_numbers(int(count * unowned_share), rng, taken)
        numbers = owned[:]
        for stranger in strangers:  # spread across batches
            numbers.insert(rng.randrange(len(numbers) + 1), stranger)
    return owned, numbers


def bulkupdate_command(scenario: Scenario, numbers: Path, base_url: str, folder: Path) -> list[str]:
    return [
        sys.executable, "-m", "bulkupdate", "run", str(numbers), "--set", "tags=benchmark",
        "--base-url", base_url, "--rate", str(scenario.rate),
        "--max-active-jobs", str(scenario.job_cap), "--ownership", scenario.ownership,
        "--journal", str(folder / f"run-{time.monotonic_ns()}.journal"), "--quiet",
    ]  # fmt: skip


def peer_command(scenario: Scenario, numbers: Path, base_url: str, folder: Path) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks.sdk_peer", str(numbers), "--base-url", base_url,
        "--jobs", str(scenario.job_cap),
    ]  # fmt: skip


def measure(
    scenario: Scenario, client: str, numbers: Path, inventory: Path, owned: int
) -> dict[str, Any]:
    command = bulkupdate_command if client == "bulkupdate" else peer_command
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess(scenario.sandbox_flags(inventory)) as sandbox,
    ):
        argv = command(scenario, numbers, sandbox.base_url, Path(tmp))
        env = {**os.environ, "TELNYX_API_KEY": "benchmark-key"}
        started = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        stats = sandbox.stats()
    if done.returncode not in (0, 1):
        print(f"{client} exited {done.returncode}:\n{done.stderr[-2000:]}", file=sys.stderr)
    updated = stats["numbers"]["distinct_applied"]
    bound = scenario.bound(owned)
    return {
        "client": client,
        "wall_s": round(wall, 1),
        "bound_s": round(bound, 1),
        "efficiency": round(min(1.0, updated / owned) * bound / wall, 3),
        "requests": stats["requests"]["total"],
        "429s": stats["requests"]["by_status"]["429"],
        "not_updated": owned - updated,
        "jobs": stats["jobs"]["created"],
        "peak_active": stats["jobs"]["peak_active"],
        "peak_rps": stats["rate"]["peak_in_any_second"],
        "reapplied": stats["numbers"]["reapplied_after_success"],
        "exit": done.returncode,
    }


def run_scenario(scenario: Scenario, *, peer: bool) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        numbers, inventory, owned = write_inputs(scenario, Path(tmp))
        clients = ["bulkupdate", "telnyx SDK"] if peer else ["bulkupdate"]
        return [
            {"scenario": scenario.name, "R": scenario.rate, "C": scenario.job_cap,
             "T_s": round(scenario.job_seconds, 2)}
            | measure(scenario, client, numbers, inventory, owned)
            for client in clients
        ]  # fmt: skip


COLUMNS = (
    "scenario",
    "client",
    "bound_s",
    "wall_s",
    "efficiency",
    "requests",
    "429s",
    "not_updated",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "rate", "all"], default="all")
    parser.add_argument("--numbers", type=int, help="override the input size (a quick look)")
    parser.add_argument("--no-peer", action="store_true", help="run bulkupdate only")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args()
    if args.scenario == "all":
        names = list(SCENARIOS)
    elif args.scenario == "rate":
        names = [name for name in SCENARIOS if name not in ("cap", "unowned")]
    else:
        names = [args.scenario]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", file=sys.stderr)
    # Installed packages start from their compiled bytecode (pip compiles them); this
    # checkout may not have it, and each child would compile the package again.
    compileall.compile_dir(Path(__file__).parents[1] / "bulkupdate", quiet=1)
    rows = []
    for name in names:
        scenario = SCENARIOS[name]
        if args.numbers:
            scenario = replace(scenario, numbers=args.numbers)
        for row in run_scenario(scenario, peer=not args.no_peer):
            rows.append(row)
            print(
                json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()),
                flush=True,
            )
    if not args.json:
        print_table(rows, COLUMNS)


def print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """The rows as a Markdown table, for the README."""
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")


if __name__ == "__main__":
    main()
