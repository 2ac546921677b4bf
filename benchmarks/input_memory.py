"""Peak memory on hostile input: a gzip bomb, a 1 GiB line, a file of NUL bytes.

Runs ``bulkupdate run FILE --dry-run`` in a child process for each and reports its peak
RSS (from ``wait4``) and wall time, next to a clean list of a million numbers for
comparison. Linux counts a child's memory at fork, a copy of its parent's, in its peak:
this process stays small (its own peak is printed first) so the figures are the
command's. The inputs cost little disk: the NUL file is sparse, the gzip bomb is one
compressed block repeated as gzip members.

    python -m benchmarks.input_memory [--gib 1]

Target (issue 10): every case within the usual peak, about 150 MB.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1024 * 1024
BLOCK = 16 * MIB


def gzip_bomb(path: Path, size: int, byte: bytes) -> None:
    """``size`` bytes of ``byte`` once decompressed; a block compressed once, repeated."""
    member = gzip.compress(byte * BLOCK, compresslevel=9)
    with path.open("wb") as file:
        for _ in range(size // BLOCK):
            file.write(member)


def nul_file(path: Path, size: int) -> None:
    with path.open("wb") as file:
        file.truncate(size)  # sparse


def clean_list(path: Path, lines: int) -> None:
    with path.open("w") as file:
        file.writelines(f"+1312{n:07d}\n" for n in range(lines))


def peak(path: Path) -> tuple[int, float, float]:
    """Exit code, peak RSS in MB and seconds of ``bulkupdate run PATH --dry-run``."""
    command = [sys.executable, "-m", "bulkupdate", "run", str(path), "--set", "tags=x", "--dry-run"]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of each hostile input")
    args = parser.parse_args()
    size = int(args.gib * 1024) * MIB
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "clean list, 1,000,000 lines": (Path(tmp, "clean.txt"), clean_list, 1_000_000),
            f"gzip bomb, {args.gib:g} GiB of NUL": (
                Path(tmp, "bomb.txt.gz"),
                lambda p, n: gzip_bomb(p, n, b"\0"),
                size,
            ),
            f"one line of {args.gib:g} GiB (gzip)": (
                Path(tmp, "line.txt.gz"),
                lambda p, n: gzip_bomb(p, n, b"9"),
                size,
            ),
            f"{args.gib:g} GiB of NUL bytes": (Path(tmp, "zeros.txt"), nul_file, size),
        }
        print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"this process: peak RSS {own:.1f} MB (a floor under the figures below)")
        for label, (path, make, amount) in cases.items():
            make(path, amount)
            code, rss, seconds = peak(path)
            on_disk = path.stat().st_blocks * 512 / MIB
            print(
                f"{label:34} {on_disk:8.1f} MB on disk  exit {code}  "
                f"peak RSS {rss:6.1f} MB  {seconds:5.1f} s"
            )
            path.unlink()


if __name__ == "__main__":
    main()
