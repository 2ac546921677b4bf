"""The shipped examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_library_example_runs_against_its_sandbox() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "library.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "succeeded +13125550101" in done.stdout  # (312) 555-0101, normalised
    assert "rejected not a number" in done.stdout
    assert "'succeeded': 3" in done.stdout
