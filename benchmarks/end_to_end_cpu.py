"""What a million numbers cost the ``bulkupdate`` process, end to end, as a user runs it.

Writes 1,000,000 clean +E.164 numbers to a file, starts the sandbox in a child process
with full job answers (a POST's job lists its 1000 numbers under ``pending_operations``,
a finished one under ``successful_operations``, as Telnyx's API does), then runs the
real command, ``bulkupdate run FILE --set tags=benchmark`` with its journal on, as a
child process of its own. The figures are that process's alone, from ``os.wait4``: CPU
(user + system), peak RSS, and the wall time from launch to exit; then the same run with
``--report FILE`` (JSON Lines). Each is repeated (``--repeat``, interleaved) against a
fresh sandbox; the median and the spread are printed. A dry run of the same file
(``--dry-run``: start-up, reading and checking the input, batching) is measured too, as
the part of the run no server answer changes.

The sandbox is set to be fast: a high rate limit, jobs whose numbers take no time, and a
short wait before a job starts (``--pending-ms``). That wait is what makes the client see
each job twice, as a user does: pending in the POST's answer, finished on a later page of
the jobs list. It must outlast the sandbox's own work on a POST: with no wait a job has
ended by the time its POST is answered, and the client reads each job once and never
lists them. That work bounds the run, not the client: about 30 ms of the sandbox's CPU a
POST of 1000 new numbers (most of it taking each number into its inventory), one core
busy throughout. So the client waits some 30 ms for each answer, as it would for the real
API's (which take longer), and its CPU is that of a process woken from idle for each one:
on this project's machine, a request costs aiohttp four to five times the CPU it costs
when the answer comes at once (``benchmarks.request_cpu``).

    python -m benchmarks.end_to_end_cpu [--numbers 1000000] [--repeat 3]
    python -m benchmarks.end_to_end_cpu --code ../other-checkout   # that tree's command

The CPU this shared machine gives a process swings by a third from one spell to the
next; each run is preceded by a fixed pure-Python workload (``reference_workload``),
and its CPU time is printed with the figures: compare two sets of figures only where
it agrees, and compare changes by interleaving them (``--code``).

Targets: at most 3.0 CPU s per million (stretch 1.5), peak RSS at most 150 MB, and at
most 1 CPU s more with ``--report``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.sandbox_process import SandboxProcess


def write_numbers(path: Path, count: int) -> None:
    """``count`` distinct, valid US numbers, in order (an export from a database)."""
    areas = (312, 415, 646, 702, 213, 305, 617, 404, 512, 303)
    with path.open("w") as file:
        for n in range(count):
            area, rest = areas[n // 8_000_000 % len(areas)], n % 8_000_000
            file.write(f"+1{area}{2_000_000 + rest:07d}\n")


def command(numbers: Path, args: argparse.Namespace, *flags: str, stats: str = "") -> list[str]:
    profile = ["-m", "benchmarks.cpu_profile", args.profile + stats] if args.profile else ["-m"]
    run = ["bulkupdate", "run", str(numbers), "--set", "tags=benchmark", "--quiet"]
    return [sys.executable, *profile, *run, *flags]


def sandbox_flags(args: argparse.Namespace) -> list[str]:
    return [
        "--rate", str(args.rate * 2), "--job-cap", str(args.job_cap),
        "--op-ms", "0", "--pending-ms", str(args.pending_ms),
    ]  # fmt: skip


def run_child(argv: list[str], args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run ``argv`` (from ``--code``'s tree, if given); its own CPU, peak RSS and wall."""
    env = {**os.environ, "TELNYX_API_KEY": "benchmark-key"}
    if args.code:  # `python -m bulkupdate` finds the package in its working directory
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.code, os.getcwd()]))
    with open(folder / "stderr.txt", "wb") as errors:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, env=env, cwd=args.code, stdout=subprocess.DEVNULL, stderr=errors
        )
        # wait4 gives the rusage of this child alone (the sandbox is another child).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        said = (folder / "stderr.txt").read_text(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(argv[:6])}… exited {code}:\n{said}")
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "wall_s": wall,
    }


_REFERENCE = """
import json, time
started = time.process_time()
table = {str(n): n * 2 for n in range(200_000)}
json.loads(json.dumps(table))
sorted(table.values(), key=lambda value: -value)
print(time.process_time() - started)
"""


def reference_workload() -> float:
    """CPU seconds of a fixed piece of pure-Python work (dicts, JSON, a sort): how fast
    the machine runs Python just now.

    In a process of its own: a child's peak RSS (``wait4``) starts from the peak of the
    process that started it, and the 60 MB this work takes would be the floor of every
    run's figure after it."""
    said = subprocess.run(
        [sys.executable, "-c", _REFERENCE], capture_output=True, text=True, check=True
    )
    return float(said.stdout)


def measure(numbers: Path, args: argparse.Namespace, *, report: bool) -> dict[str, Any]:
    """One run of the command against a fresh sandbox."""
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(sandbox_flags(args)) as sandbox:
        folder = Path(tmp)
        flags = [
            "--base-url", sandbox.base_url, "--rate", str(args.rate),
            "--max-active-jobs", str(args.job_cap), "--journal", str(folder / "run.journal"),
        ]  # fmt: skip
        if report:
            flags += ["--report", str(folder / "report.jsonl")]
        run = run_child(command(numbers, args, *flags), args, folder)
        stats = sandbox.stats()
        rows = _lines(folder / "report.jsonl") if report else None
    return run | {
        "updated": stats["numbers"]["distinct_applied"],
        "requests": stats["requests"]["total"],
        "lists": stats["requests"]["by_endpoint"]["GET /phone_numbers/jobs"],
        "jobs": stats["jobs"]["created"],
        "report_rows": rows,
    }


def dry_run(numbers: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        dry = command(numbers, args, "--dry-run", stats=".dry")  # its own profile, if any
        return run_child(dry, args, Path(tmp))


def _lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(block.count(b"\n") for block in iter(lambda: file.read(1 << 20), b""))


def summary(label: str, runs: list[dict[str, Any]], per: float) -> str:
    def spread(key: str, unit: str, digits: int) -> str:
        values = [run[key] for run in runs]
        median = statistics.median(values)
        return f"{median:.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    cpu = statistics.median(run["cpu_s"] for run in runs) / per
    user = statistics.median(run["user_s"] for run in runs)
    system = statistics.median(run["sys_s"] for run in runs)
    return (
        f"{label:16} CPU {spread('cpu_s', ' s', 2)} = {cpu:.2f} s per million "
        f"[user {user:.2f}, sys {system:.2f}]  peak RSS {spread('peak_mb', ' MB', 0)}  "
        f"wall {spread('wall_s', ' s', 1)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (default: 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second (200)")
    parser.add_argument("--job-cap", type=int, default=20, help="jobs at once (default: 20)")
    parser.add_argument(
        "--pending-ms", type=float, default=100.0, help="the wait before a job starts (100 ms)"
    )
    parser.add_argument("--no-report", action="store_true", help="skip the runs with --report")
    parser.add_argument("--code", metavar="DIR", help="run the command of this source tree")
    parser.add_argument("--json", action="store_true", help="print each run as a JSON line")
    parser.add_argument(
        "--profile", metavar="FILE", help="profile the command's CPU (cProfile), stats to FILE"
    )
    args = parser.parse_args()
    if args.code:
        args.code = str(Path(args.code).resolve())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    # Installed packages start from their compiled bytecode (pip compiles them); this
    # checkout may not have it, and each run would compile the package again.
    compileall.compile_dir(Path(args.code or Path(__file__).parents[1]) / "bulkupdate", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        numbers = Path(tmp, "numbers.txt")
        write_numbers(numbers, args.numbers)
        kinds = [("journal", False)] + ([] if args.no_report else [("journal + report", True)])
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in kinds}
        results["dry run"] = []
        for _ in range(args.repeat):
            for label, report in kinds:  # interleaved: a noisy spell hits every kind
                reference = reference_workload()
                run = measure(numbers, args, report=report) | {"reference_s": reference}
                if run["updated"] != args.numbers or run["report_rows"] not in (None, args.numbers):
                    raise SystemExit(f"{label}: not every number was updated and reported: {run}")
                results[label].append(run)
                if args.json:
                    print(json.dumps({"kind": label, **run}), flush=True)
            reference = reference_workload()
            results["dry run"].append(dry_run(numbers, args) | {"reference_s": reference})
    per = args.numbers / 1_000_000
    for label, runs in results.items():
        print(summary(label, runs, per))
    references = [run["reference_s"] for runs in results.values() for run in runs]
    print(
        f"the reference workload took {statistics.median(references):.3f} CPU s "
        f"({min(references):.3f}–{max(references):.3f}) before the runs"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process's peak RSS: {own:.0f} MB (a floor under each run's)")
    median = {label: statistics.median(r["cpu_s"] for r in runs) for label, runs in results.items()}
    if not args.no_report:
        extra = median["journal + report"] - median["journal"]
        print(f"the report costs {extra / per:+.2f} CPU s per million")
    beyond = (median["journal"] - median["dry run"]) / per
    print(f"beyond the dry run (start-up and input): {beyond:.2f} CPU s per million")
    first = results["journal"][0]
    print(
        f"({first['jobs']:,} jobs, {first['requests']:,} requests of which {first['lists']} lists)"
    )


if __name__ == "__main__":
    main()
