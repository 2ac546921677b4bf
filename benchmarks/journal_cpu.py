"""What the journal costs: a process's CPU for the same run with and without it.

Each run is a child process of its own, measured whole (``os.wait4``: user + system CPU,
peak RSS): start-up, the input read in its worker thread, the engine, and for the
journal its end-of-run counts, as ``bulkupdate run`` does them. The sandbox, in another
child process, answers as ``benchmarks.end_to_end_cpu``'s does: full job answers, and a
job that starts 100 ms after its POST, so that every job is read twice (pending in its
POST's answer, finished on a page of the jobs list), as a user's are.

This benchmark once saw a third of what a user sees (4.86 and 5.77 CPU s a million,
against 15.9 for the command): its sandbox ended each job inside its POST (no wait before
a job starts), so a job was read once, from a small answer, and the jobs list (pages of
megabytes) was never read; and it measured the engine inside its own process, without
start-up or the end of the run.

    python -m benchmarks.journal_cpu [--numbers 1000000] [--repeat 3]

Target: journaling costs under 25% extra CPU on a 1,000,000-number run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.end_to_end_cpu import run_child, sandbox_flags, write_numbers
from benchmarks.sandbox_process import SandboxProcess


async def one_run(base_url: str, path: str, journal_path: str | None) -> int:
    """The engine over the numbers in ``path``, journaled to ``journal_path`` if given."""
    from bulkupdate.api.client import ApiClient
    from bulkupdate.engine.pipeline import run_engine
    from bulkupdate.input.number_streams import NumberFiles, open_input
    from bulkupdate.request.spec import load_update_spec
    from bulkupdate.runs.journal import Journal
    from bulkupdate.settings import EngineSettings

    journal = Journal.create(journal_path, {"benchmark": True}) if journal_path else None
    spec = load_update_spec(sets=["tags=benchmark"])
    stream = open_input(NumberFiles(path))
    async with ApiClient("benchmark-key", base_url=base_url, rate=200) as client:
        stats = await run_engine(
            client,
            spec,
            stream.chunks,
            None,
            EngineSettings(max_active_jobs=20),
            input_fraction=stream.fraction,
            recorder=journal,
        )
    if journal is not None:  # what the command does at the end of a run
        journal.finish("finished", stats.totals.as_dict())
        journal.counts()
        journal.close()
    return stats.totals.succeeded


def child(base_url: str, path: str, journal_path: str | None) -> None:
    import anyio

    succeeded = anyio.run(one_run, base_url, path, journal_path)
    print(succeeded)


def measure(numbers: Path, args: argparse.Namespace, *, journal: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(sandbox_flags(args)) as sandbox:
        folder = Path(tmp)
        argv = [sys.executable, "-m", "benchmarks.journal_cpu", "--child", sandbox.base_url]
        argv += [str(numbers), *([str(folder / "run.journal")] if journal else [])]
        run = run_child(argv, args, folder)
        updated = sandbox.stats()["numbers"]["distinct_applied"]
    if updated != args.numbers:
        raise SystemExit(f"not every number was updated: {updated:,}")
    return run


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        base_url, path, *journal = sys.argv[2:]
        child(base_url, path, journal[0] if journal else None)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (default: 3)")
    args = parser.parse_args()
    # What end_to_end_cpu's sandbox and command are given.
    args.rate, args.job_cap, args.pending_ms, args.code = 200.0, 20, 100.0, None
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"without journal": [], "with journal": []}
    with tempfile.TemporaryDirectory() as tmp:
        numbers = Path(tmp, "numbers.txt")
        write_numbers(numbers, args.numbers)
        for _ in range(args.repeat):
            for label in results:  # interleaved: a noisy spell hits both
                results[label].append(measure(numbers, args, journal=label == "with journal"))
    cpu = {label: statistics.median(r["cpu_s"] for r in runs) for label, runs in results.items()}
    for label, runs in results.items():
        peak = statistics.median(r["peak_mb"] for r in runs)
        print(f"{label:16} CPU {cpu[label]:.2f} s  peak RSS {peak:.0f} MB")
    extra = cpu["with journal"] - cpu["without journal"]
    print(f"journal cost: {extra:.2f} CPU s = {extra / cpu['without journal']:.0%} of the run")


if __name__ == "__main__":
    main()
