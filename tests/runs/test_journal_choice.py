"""Which journal a run opens: the same run's, or a new one; and old journals pruned.

No network: these open journals the way ``bulkupdate run`` does before it sends anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkupdate.errors import JournalInUse, UsageError
from bulkupdate.input.number_streams import NumberFiles
from bulkupdate.request.spec import load_update_spec
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.journal_dir import SECONDS_A_DAY, journal_in, prune, unfinished
from bulkupdate.runs.journal_lock import JournalLock, lock_path
from bulkupdate.runs.run_options import RunOptions
from bulkupdate.runs.start_or_resume import AlreadyFinished, Durable, open_locked, start_or_resume
from bulkupdate.settings import EngineSettings


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


def test_the_same_run_gets_the_same_journal_and_other_work_another(
    numbers: Path, tmp_path: Path, opened: list[Durable]
) -> None:
    nightly = tmp_path / "journals"
    first = start_or_resume(options(numbers, journal_dir=str(nightly)))
    assert first.resume is None
    assert Path(first.journal.path).parent == nightly
    first.close()  # killed half-way, say: not finished

    again = start_or_resume(options(numbers, journal_dir=str(nightly)))
    opened.append(again)
    assert again.journal.path == first.journal.path
    assert again.resume is not None  # the unfinished run is carried on
    finish(again)
    opened.remove(again)

    with pytest.raises(AlreadyFinished):  # the same work, done: said so, nothing sent
        start_or_resume(options(numbers, journal_dir=str(nightly)))

    numbers.write_text("+13125550102\n")  # tonight's list
    tonight = start_or_resume(options(numbers, journal_dir=str(nightly)))
    opened.append(tonight)
    assert tonight.resume is None
    assert tonight.journal.path != first.journal.path
    other_update = start_or_resume(options(numbers, tags="b", journal_dir=str(nightly)))
    opened.append(other_update)
    assert other_update.journal.path not in {first.journal.path, tonight.journal.path}
    assert sorted(nightly.glob("*.journal")) == sorted(
        Path(d.journal.path) for d in (again, tonight, other_update)
    )


def test_a_journal_in_use_is_refused_before_it_is_read(
    numbers: Path, tmp_path: Path, opened: list[Durable]
) -> None:
    nightly = str(tmp_path / "journals")
    opened.append(start_or_resume(options(numbers, journal_dir=nightly)))
    with pytest.raises(JournalInUse):
        start_or_resume(options(numbers, journal_dir=nightly))
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
    assert "--journal-dir DIR" in message
    with pytest.raises(UsageError, match="another update"):
        start_or_resume(options(numbers, tags="b", journal=path))
    assert not lock_path(path).exists()  # each refusal let go of the journal


def test_an_unfinished_journal_of_another_update_is_refused(numbers: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "run.journal")
    start_or_resume(options(numbers, journal=path)).close()
    with pytest.raises(UsageError, match=r"records another run \(another update\)"):
        start_or_resume(options(numbers, tags="b", journal=path))


def test_the_name_follows_the_identity_whatever_its_key_order() -> None:
    one = journal_in("d", {"request": {"a": 1, "b": 2}, "inputs": []})
    assert one == journal_in("d", {"inputs": [], "request": {"b": 2, "a": 1}})
    assert one != journal_in("d", {"inputs": [], "request": {"a": 1, "b": 3}})
    assert one.name.startswith("run-")
    assert one.suffix == ".journal"


def make_journal(directory: Path, name: str, status: str | None) -> Path:
    path = directory / name
    journal = Journal.create(path, {})
    if status is not None:
        journal.finish(status)
    journal.close()
    return path


def test_prune_removes_only_old_finished_journals_not_in_use(tmp_path: Path) -> None:
    old_done = make_journal(tmp_path, "done.journal", "finished")
    in_use = make_journal(tmp_path, "in-use.journal", "finished")
    stopped = make_journal(tmp_path, "stopped.journal", "interrupted")
    killed = make_journal(tmp_path, "killed.journal", None)  # still says "running"
    other = tmp_path / "notes.journal"
    other.write_text("not a journal")
    Path(f"{old_done}-wal").write_bytes(b"")
    now = time.time()

    assert prune(tmp_path, 3, now=now + 2 * SECONDS_A_DAY) == []  # not old enough yet
    with JournalLock.acquire(in_use):
        removed = prune(tmp_path, 3, now=now + 4 * SECONDS_A_DAY)
    assert removed == [old_done]
    assert sorted(tmp_path.iterdir()) == sorted([in_use, stopped, killed, other])
    assert prune(tmp_path, 0, now=now + 1) == [in_use]  # free now, and finished


def test_unfinished_lists_the_other_runs_not_finished(tmp_path: Path) -> None:
    make_journal(tmp_path, "done.journal", "finished")
    stopped = make_journal(tmp_path, "stopped.journal", "interrupted")
    killed = make_journal(tmp_path, "killed.journal", None)
    found = unfinished(tmp_path, besides=killed)
    assert [(f.path, f.status) for f in found] == [(stopped, "interrupted")]
    assert found[0].updated_at is not None
