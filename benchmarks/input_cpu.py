"""CPU cost of the input side: read + validate + dedupe + batch + encode.

Writes a file of already-E.164 numbers (and, separately, a messy one), runs the scanner,
batcher and body encoder over it as the engine does, and reports CPU seconds per million
entries. Then runs ``bulkupdate run FILE --dry-run`` over a 1,000,000-line file in a
child process and reports its peak RSS.

    python -m benchmarks.input_cpu [--lines 1000000]

Targets (issue 2): under 2 CPU s per million clean lines; dry run under 150 MB peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bulkupdate.input.batching import Batcher
from bulkupdate.input.normalise import Normaliser
from bulkupdate.input.scan import Scanner
from bulkupdate.request.spec import load_update_spec


def write_numbers(path: Path, lines: int, *, messy: bool, seed: int = 1) -> None:
    rng = random.Random(seed)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as file:
        for _ in range(lines):
            area, exchange = rng.randint(201, 989), rng.randint(200, 999)
            line = rng.randint(0, 9999)
            if messy:
                file.write(f"({area}) {exchange}-{line:04d}\n")
            else:
                file.write(f"+1{area}{exchange}{line:04d}\n")


def measure(path: Path, region: str | None) -> tuple[float, int, int]:
    """CPU seconds, entries and batches for one pass over ``path``."""
    spec = load_update_spec(
        sets=["tags=migrated", "voice.call_forwarding.forwards_to=+13035559123"]
    )
    scanner = Scanner(Normaliser(default_region=region))
    batcher = Batcher()
    batches = 0
    started = time.process_time()
    for chunk in scanner.scan_paths([str(path)]):
        for batch in batcher.add(chunk.values):
            spec.encode_body(batch.values)
            batches += 1
    for batch in batcher.flush():
        spec.encode_body(batch.values)
        batches += 1
    return time.process_time() - started, scanner.counts.entries, batches


def dry_run_peak_rss(path: Path) -> float:
    """Peak RSS in MB of ``bulkupdate run PATH --dry-run`` in a child process."""
    command = [sys.executable, "-m", "bulkupdate", "run", str(path), "--set", "tags=x", "--dry-run"]
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--messy-lines", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp, "clean.txt")
        write_numbers(clean, args.lines, messy=False)
        clean_gz = Path(tmp, "clean.txt.gz")
        write_numbers(clean_gz, args.lines, messy=False)
        messy = Path(tmp, "messy.txt")
        write_numbers(messy, args.messy_lines, messy=True)
        print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
        for label, path, region in (
            ("clean E.164", clean, None),
            ("clean E.164, gzip", clean_gz, None),
            ("messy national (phonenumbers)", messy, "US"),
        ):
            cpu, entries, batches = measure(path, region)
            per_million = cpu / entries * 1_000_000
            print(
                f"{label:32} {entries:>10,} entries {batches:>6,} batches "
                f"{cpu:6.2f} CPU s = {per_million:5.2f} CPU s per million"
            )
        rss = dry_run_peak_rss(clean)
        print(f"dry run over {args.lines:,} lines: peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
