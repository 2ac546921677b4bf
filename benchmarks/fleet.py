"""Several processes on one account: sharing its budget through Redis, or each on its own.

One sandbox child (rate limit R, job cap C, jobs of T seconds, 5% transient failures)
holds the account; the input is cut into N slices and N ``bulkupdate run`` processes
start together, one a slice, with ``--budget redis://…`` (a ``redis-server`` of the
benchmark's own) or without it ("alone"). Timed from the first launch to the last exit,
against the same lower bound as ``throughput.py`` for the total work:

    bound = max((J − 1) / R + T, ⌈J / C⌉ · T)       J = ⌈numbers / 1000⌉

Goodput efficiency = (share of the numbers updated) × bound ÷ wall. The sandbox counts
429s and job creations refused at the cap.

    python -m benchmarks.fleet                  # N = 1, 2, 4, with and without Redis
    python -m benchmarks.fleet --processes 4 --numbers 60000 --only redis

Target: with Redis, N = 4 reaches at least 0.85 of the single process's efficiency, with
no refusal at the cap and under 1% of requests answered 429.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.sandbox_process import SandboxProcess, random_numbers
from benchmarks.throughput import Scenario, print_table
from tests.redis_server import RedisServer

# Rate-bound as throughput.py's "rate-bound" scenario (0.5 s jobs at 10 requests a second),
# large enough (bound 20 s) that starting the processes is a small part of the wall time.
SCENARIO = Scenario("fleet", rate=10.0, job_cap=20, op_ms=0.45, numbers=200_000)


def write_slices(every: list[str], processes: int, folder: Path) -> tuple[list[Path], Path]:
    inventory = folder / "inventory.txt"
    inventory.write_text("\n".join(every) + "\n")
    slices = []
    for n in range(processes):
        path = folder / f"slice{n}.txt"
        path.write_text("\n".join(every[n::processes]) + "\n")
        slices.append(path)
    return slices, inventory


def run_command(scenario: Scenario, path: Path, base_url: str, budget: str | None) -> list[str]:
    return [
        sys.executable, "-m", "bulkupdate", "run", str(path), "--set", "tags=fleet",
        "--base-url", base_url, "--rate", str(scenario.rate),
        "--max-active-jobs", str(scenario.job_cap),
        "--journal", str(path.with_suffix(".journal")), "--quiet",
        *(["--budget", budget] if budget else []),
    ]  # fmt: skip


def measure(
    scenario: Scenario, every: list[str], processes: int, budget: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        slices, inventory = write_slices(every, processes, folder)
        with SandboxProcess(scenario.sandbox_flags(inventory)) as sandbox:
            env = {**os.environ, "TELNYX_API_KEY": "fleet-key"}
            started = time.monotonic()
            runs = [
                subprocess.Popen(
                    run_command(scenario, path, sandbox.base_url, budget),
                    env=env,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for path in slices
            ]
            codes = []
            for run in runs:
                _, err = run.communicate()
                codes.append(run.returncode)
                if run.returncode not in (0, 1):
                    print(f"a run exited {run.returncode}:\n{err[-2000:]}", file=sys.stderr)
            wall = time.monotonic() - started
            stats = sandbox.stats()
    updated = stats["numbers"]["distinct_applied"]
    bound = scenario.bound(scenario.numbers)
    requests = stats["requests"]["total"]
    return {
        "processes": processes,
        "budget": "redis" if budget else "alone",
        "bound_s": round(bound, 1),
        "wall_s": round(wall, 1),
        "efficiency": round(min(1.0, updated / scenario.numbers) * bound / wall, 3),
        "requests": requests,
        "429s": stats["requests"]["by_status"]["429"],
        "429_share": round(stats["requests"]["by_status"]["429"] / max(1, requests), 4),
        "cap_refusals": stats["jobs"]["refused_at_cap"],
        "jobs": stats["jobs"]["created"],
        "lists": stats["requests"]["by_endpoint"]["GET /phone_numbers/jobs"],
        "gets": stats["requests"]["by_endpoint"]["GET /phone_numbers/jobs/{id}"],
        "peak_active": stats["jobs"]["peak_active"],
        "not_updated": scenario.numbers - updated,
        "reapplied": stats["numbers"]["reapplied_after_success"],
        "exits": codes,
    }


COLUMNS = ("processes", "budget", "bound_s", "wall_s", "efficiency", "429s", "cap_refusals")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, action="append", help="N (default 1, 2, 4)")
    parser.add_argument("--numbers", type=int, default=SCENARIO.numbers)
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    parser.add_argument("--only", choices=("redis", "alone"), help="one of the two setups")
    args = parser.parse_args()
    scenario = Scenario(
        SCENARIO.name, SCENARIO.rate, SCENARIO.job_cap, SCENARIO.op_ms, numbers=args.numbers
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", file=sys.stderr)
    every = random_numbers(scenario.numbers, random.Random(7), set())  # once: it takes a while
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp))
        try:
            for processes in args.processes or [1, 2, 4]:
                for budget in (redis.url, None):
                    if args.only and args.only != ("redis" if budget else "alone"):
                        continue
                    row = measure(scenario, every, processes, budget)
                    rows.append(row)
                    text = "  ".join(f"{k}={v}" for k, v in row.items())
                    print(json.dumps(row) if args.json else text, flush=True)
        finally:
            redis.stop()
    if not args.json:
        print_table(rows, COLUMNS)


if __name__ == "__main__":
    main()
