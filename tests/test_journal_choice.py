"""Which journal a run opens: the same run's, or a new one.

No network: these open journals the way ``bulkupdate run`` does before it sends anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkupdate.errors import JournalInUse
from bulkupdate.inputs import NumberFiles
from bulkupdate.runs import Durable, RunOptions, open_locked, start_or_resume
from bulkupdate.settings import EngineSettings
from bulkupdate.spec import load_update_spec


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text("+13125550100\n+13125550101\n")
    return path


def options(numbers: Path, tags: str = "a", **flags: Any) -> RunOptions:
    return RunOptions(
        inputs=NumberFiles(str(numbers)),
        spec=load_update_spec(None, [f"tags={tags}"], []),
        engine=EngineSettings(),
        sandbox=True,
        **flags,
    )


@pytest.fixture
def opened() -> Iterator[list[Durable]]:
    """Journals a test opened, closed (and unlocked) at its end."""
    found: list[Durable] = []
    yield found
    for durable in found:
        durable.close()


def test_a_journal_in_use_is_refused_before_it_is_read(
    numbers: Path, tmp_path: Path, opened: list[Durable]
) -> None:
    path = str(tmp_path / "run.journal")
    opened.append(start_or_resume(options(numbers, journal=path)))
    with pytest.raises(JournalInUse):
        start_or_resume(options(numbers, journal=path))
    with pytest.raises(JournalInUse):
        open_locked(path)  # bulkupdate resume
