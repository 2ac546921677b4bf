"""How close ``bulkupdate run --from-account`` gets to the fastest run the API's limits allow.

The sandbox (a child process: rate limit R, job cap C, jobs of T seconds, 5% transient
per-number failures) holds an account of N numbers on connection A among others on a
second connection, spread through the listing's order. The run selects
``connection_id=A`` and moves every one of them to connection B, which takes each out of
the listing it is reading. Timed from launch to exit.

Reading the selection costs requests from the same budget as the jobs: at least
P = ⌈N / 250⌉ pages of ``GET /phone_numbers`` (250 is the largest page the API serves),
beside J = ⌈N / 1000⌉ first-pass jobs. So

    bound = max((J + P − 1) / R + T, ⌈J / C⌉ · T)

a true lower bound: J + P requests cannot go out faster than R a second, the last job
takes T after its POST, and C slots hold at most C jobs of T seconds at a time. Polls,
retries of failed numbers and any page read beyond P are extra, not part of the bound.
Goodput efficiency = (share of the selection moved, from the sandbox's books) × bound ÷
wall.

    python -m benchmarks.account_throughput                  # 100,000 numbers selected
    python -m benchmarks.account_throughput --numbers 20000  # a quick look

Every selected number must be moved once and no other touched (``not_moved``,
``moved_beyond`` and ``reapplied`` are 0). The backward sweep that keeps the selection
exact reads about 8% more pages than P (see input/listing_sweep.py); measured on 2 shared cores:
efficiency 0.70 (36.4 s against 25.4 s; 553 requests against the bound's 499: 434 pages,
109 jobs, the rest polls).
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
from pathlib import Path
from typing import Any

import orjson

from benchmarks.sandbox_process import SandboxProcess, random_numbers

A, B, OTHER = "1293384261075731100", "1293384261075731200", "1293384261075731300"
BATCH, PAGE = 1000, 250
RATE, JOB_CAP, OP_MS, PENDING_MS = 20.0, 20, 0.45, 50.0  # rate-bound: 0.5 s jobs
FAIL_RATE = 0.05


def job_seconds() -> float:
    return (PENDING_MS + BATCH * OP_MS) / 1000


def bound(selected: int) -> float:
    jobs, pages = math.ceil(selected / BATCH), math.ceil(selected / PAGE)
    return max((jobs + pages - 1) / RATE + job_seconds(), math.ceil(jobs / JOB_CAP) * job_seconds())


def write_account(folder: Path, selected: int, others: int) -> Path:
    """The account's inventory: ``selected`` numbers on A and ``others`` on another
    connection, interleaved in phone-number order."""
    numbers = random_numbers(selected + others, random.Random(7), set())
    inventory = folder / "inventory.jsonl"
    with inventory.open("wb") as out:
        for index, number in enumerate(numbers):
            connection = A if index < selected else OTHER
            out.write(orjson.dumps({"phone_number": number, "connection_id": connection}))
            out.write(b"\n")
    return inventory


def measure(selected: int, others: int) -> dict[str, Any]:
    flags = [
        "--rate", str(RATE), "--job-cap", str(JOB_CAP), "--op-ms", str(OP_MS),
        "--pending-ms", str(PENDING_MS), "--fail-rate", str(FAIL_RATE), "--seed", "7",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        inventory = write_account(Path(tmp), selected, others)
        with SandboxProcess([*flags, "--inventory", str(inventory)]) as sandbox:
            argv = [
                sys.executable, "-m", "bulkupdate", "run", "--from-account",
                "--filter", f"connection_id={A}", "--set", f"connection_id={B}",
                "--base-url", sandbox.base_url, "--rate", str(RATE),
                "--max-active-jobs", str(JOB_CAP),
                "--journal", str(Path(tmp) / "run.journal"), "--quiet",
            ]  # fmt: skip
            env = {**os.environ, "TELNYX_API_KEY": "benchmark-key"}
            started = time.monotonic()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            wall = time.monotonic() - started
            stats = sandbox.stats()
    if done.returncode != 0:
        print(f"bulkupdate exited {done.returncode}:\n{done.stderr[-2000:]}", file=sys.stderr)
    moved = stats["numbers"]["distinct_applied"]  # only the run's jobs apply anything
    requests = stats["requests"]
    return {
        "selected": selected,
        "account": selected + others,
        "bound_s": round(bound(selected), 1),
        "wall_s": round(wall, 1),
        "efficiency": round(min(1.0, moved / selected) * bound(selected) / wall, 3),
        "requests": requests["total"],
        "pages": requests["by_endpoint"]["GET /phone_numbers"],
        "fewest_pages": math.ceil(selected / PAGE),
        "jobs": stats["jobs"]["created"],
        "429s": requests["by_status"]["429"],
        "not_moved": selected - moved,
        "moved_beyond": max(0, moved - selected),
        "reapplied": stats["numbers"]["reapplied_after_success"],
        "exit": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=100_000, help="the selection's size")
    parser.add_argument(
        "--others", type=int, default=20_000, help="the account's numbers not selected"
    )
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; R={RATE:g}/s, C={JOB_CAP}, "
        f"T={job_seconds():.2f}s",
        file=sys.stderr,
    )
    print(json.dumps(measure(args.numbers, args.others)))


if __name__ == "__main__":
    main()
