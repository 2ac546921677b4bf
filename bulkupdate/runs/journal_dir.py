"""``--journal-dir``: where a command line that runs again and again (cron) keeps its journals.

A journal's name in the directory follows from the run's identity (the inputs' bytes,
how they are read, the update, the server), so the same command line over the same
inputs comes back to the same journal, to resume it if it did not finish or to say that
it did, while other inputs get a journal of their own. Two processes of the same run
meet at the same name, where the journal's lock lets only one of them in.

``prune`` removes finished journals older than ``--keep-days``; a journal that is not
finished, or that a process has open, is never removed. ``unfinished`` lists the runs a
person may want to carry on by hand (a run killed half-way whose inputs have since
changed). Both read journals the way ``bulkupdate status`` does, without their lock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.errors import JournalInUse, UsageError
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.journal_lock import JournalLock

JOURNAL_SUFFIX = ".journal"
SECONDS_A_DAY = 86_400
# SQLite's files beside a journal in WAL mode, removed with it.
SIDE_FILES = ("-wal", "-shm")


def journal_in(
    directory: str | Path, identity: dict[str, Any], *, again_when_finished: bool = False
) -> Path:
    """The journal of the run ``identity`` describes, in ``directory``.

    64 bits of a SHA-256 of the identity: a collision is as good as impossible, and would
    still be caught, since the journal's own settings are compared before any resume.

    ``again_when_finished``: the same run is worth running again once it has finished (a
    selection of the account's numbers, which the account may have changed since): the
    latest of ``run-ID.journal``, ``run-ID-2.journal``, … unless it has finished, else
    the next of them.
    """
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    name = f"run-{digest[:16]}"
    first = Path(directory) / f"{name}{JOURNAL_SUFFIX}"
    if not again_when_finished:
        return first
    generations = {1: first} if first.exists() else {}
    for path in Path(directory).glob(f"{name}-*{JOURNAL_SUFFIX}"):
        number = path.name.removeprefix(f"{name}-").removesuffix(JOURNAL_SUFFIX)
        if number.isdigit():
            generations[int(number)] = path
    if not generations:
        return first
    latest = max(generations)
    found = _read(generations[latest])
    if found is None or found.status != "finished":
        return generations[latest]
    return Path(directory) / f"{name}-{latest + 1}{JOURNAL_SUFFIX}"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a journal in the directory says about its run."""

    path: Path
    status: str
    finished_at: float | None
    updated_at: float | None


def survey(directory: str | Path) -> Iterator[Recorded]:
    """Every journal in ``directory``; files that are not journals are left alone."""
    for path in sorted(Path(directory).glob(f"*{JOURNAL_SUFFIX}")):
        found = _read(path)
        if found is not None:
            yield found


def prune(directory: str | Path, keep_days: int, *, now: float | None = None) -> list[Path]:
    """Remove the journals in ``directory`` that finished more than ``keep_days`` ago.

    Each is locked first, and read again under the lock: one in use is skipped. Returns
    the journals removed.
    """
    now = time.time() if now is None else now
    cutoff = now - keep_days * SECONDS_A_DAY
    removed = []
    for found in survey(directory):
        if not _finished_before(found, cutoff):
            continue
        try:
            lock = JournalLock.acquire(found.path)
        except JournalInUse:
            continue  # a process has it open: its run may be being read or resumed
        with lock:
            again = _read(found.path)
            if again is None or not _finished_before(again, cutoff):
                continue
            for path in (found.path, *(Path(f"{found.path}{side}") for side in SIDE_FILES)):
                path.unlink(missing_ok=True)
            removed.append(found.path)
    return removed


def unfinished(directory: str | Path, *, besides: str | Path) -> list[Recorded]:
    """The journals in ``directory`` other than ``besides`` whose run has not finished."""
    mine = Path(besides).resolve()
    return [
        found
        for found in survey(directory)
        if found.status != "finished" and found.path.resolve() != mine
    ]


def _finished_before(found: Recorded, cutoff: float) -> bool:
    when = found.finished_at if found.finished_at is not None else found.updated_at
    return found.status == "finished" and when is not None and when <= cutoff


def _read(path: Path) -> Recorded | None:
    try:
        journal = Journal.open(path)
    except UsageError:
        return None  # not a journal, or one being created this instant
    try:
        return Recorded(
            path,
            str(journal.meta("status", "unknown")),
            _number(journal.meta("finished_at")),
            _number(journal.meta("updated_at")),
        )
    finally:
        journal.close()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
