"""Run a module under cProfile timed by this process's CPU clock, not the wall clock.

    python -m benchmarks.cpu_profile STATS_FILE MODULE [ARGS...]

cProfile's default timer counts time spent waiting (in ``epoll``, in a blocking
``send``) as time spent; with ``time.process_time`` a profile shows only CPU, which is
what ``benchmarks.end_to_end_cpu`` measures. Read the stats with ``pstats``.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    stats_file, module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    profiler = cProfile.Profile(time.process_time)
    try:
        profiler.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        profiler.dump_stats(stats_file)
        raise SystemExit(exit.code) from None
    profiler.dump_stats(stats_file)


if __name__ == "__main__":
    main()
