"""Which journal a run opens: the same run's, or a new one.

No network: these open journals the way ``bulkupdate run`` does before it sends anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkupdate.errors import JournalInUse, UsageError
from bulkupdate.inputs import NumberFiles
from bulkupdate.journal_lock import lock_path
from bulkupdate.runs import AlreadyFinished, Durable, RunOptions, open_locked, start_or_resume
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


def finish(durable: Durable) -> None:
    durable.journal.finish("finished", {"entries": 2, "succeeded": 2})
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


def test_a_finished_journal_of_other_work_is_refused_not_reported_done(
    numbers: Path, tmp_path: Path
) -> None:
    path = str(tmp_path / "nightly.journal")
    finish(start_or_resume(options(numbers, journal=path)))
    with pytest.raises(AlreadyFinished):
        start_or_resume(options(numbers, journal=path))

    numbers.write_text("+13125550102\n+13125550103\n+13125550104\n")
    with pytest.raises(UsageError) as refused:
        start_or_resume(options(numbers, journal=path))
    message = str(refused.value)
    assert not isinstance(refused.value, AlreadyFinished)
    assert "holds a run of different work, finished" in message
    assert f"{numbers} was 26 bytes and is now 39" in message
    assert "Nothing was sent" in message
    assert "give a new --journal path" in message
    with pytest.raises(UsageError, match="another update"):
        start_or_resume(options(numbers, tags="b", journal=path))
    assert not lock_path(path).exists()  # each refusal let go of the journal


def test_an_unfinished_journal_of_another_update_is_refused(numbers: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "run.journal")
    start_or_resume(options(numbers, journal=path)).close()
    with pytest.raises(UsageError, match=r"records another run \(another update\)"):
        start_or_resume(options(numbers, tags="b", journal=path))
