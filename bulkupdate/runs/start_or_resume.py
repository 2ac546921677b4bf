"""The journal that makes a run durable: start one, or pick one up.

The run's settings (``run_options.py``) are checked before the first request; so is the
journal, here. The settings a journal keeps (never the API key) are enough to rebuild the
run for ``bulkupdate resume``.

A journal belongs to one process at a time: its lock (``journal_lock``) is taken before
the journal is read for a resume or written, and held until the run closes it. Two
runs are the same run when they read the same inputs (same bytes) the same way, to send
the same update to the same server; only the same run is ever resumed.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkupdate.engine.resume_state import ResumeState
from bulkupdate.errors import UsageError
from bulkupdate.input.sources import STDIN
from bulkupdate.runs.journal import InputFingerprint, Journal
from bulkupdate.runs.journal_dir import journal_in
from bulkupdate.runs.journal_lock import JournalLock
from bulkupdate.runs.run_options import RunOptions, fingerprints

RUNS_DIRECTORY = "bulkupdate-runs"


def changed_inputs(
    settings: dict[str, Any], now: list[InputFingerprint] | None = None
) -> list[str]:
    """How each recorded input differs from what is on disk now (empty: unchanged).

    ``now`` holds fingerprints already taken, so that no file is read twice.
    """
    taken = {found.path: found for found in now or ()}
    problems = []
    for item in settings.get("inputs", []):
        path = item["path"]
        if path == STDIN:
            problems.append("the run read standard input, which cannot be read again")
            continue
        if item["size"] == -1:
            problems.append(f"the run read {path}, a pipe, which cannot be read again")
            continue
        if path in taken:
            now_is = taken[path]
        elif os.path.isfile(path):
            now_is = InputFingerprint.of(path)
        else:
            problems.append(f"{path} is gone")
            continue
        if now_is.size != item["size"]:
            problems.append(f"{path} was {item['size']:,} bytes and is now {now_is.size:,}")
        elif now_is.sha256 != item["sha256"]:
            problems.append(f"{path} has the same size but different content")
    return problems


def new_journal_path() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return str(Path(RUNS_DIRECTORY) / f"run-{stamp}-{secrets.token_hex(3)}.journal")


def run_identity(settings: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: inputs (and their bytes) or the selection of the
    account's numbers, reading, update, server."""
    identity = {
        "request": settings.get("request"),
        "read": settings.get("read"),
        "inputs": settings.get("inputs"),
        "server": [settings.get("base_url"), settings.get("sandbox")],
    }
    if settings.get("account") is not None:
        identity["account"] = settings["account"]
    return identity


def other_run(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """How the run ``recorded`` differs from ``now``, leaving aside the inputs' content.

    Another update, other inputs, the same inputs read another way (a region, a column,
    ids) or another server: any of them makes the recorded run's positions in the input,
    its jobs and its lost POSTs meaningless for this one.
    """
    found = []
    if recorded.get("request") != now["request"]:
        found.append("another update")
    if [item["path"] for item in recorded.get("inputs", [])] != [
        item["path"] for item in now["inputs"]
    ]:
        found.append("other input files")
    elif recorded.get("read") != now["read"]:
        found.append("the inputs read with other options")
    if recorded.get("account") != now.get("account"):
        found.append("another selection of the account's numbers")
    if [recorded.get("base_url"), recorded.get("sandbox")] != [now["base_url"], now["sandbox"]]:
        found.append("another server")
    return found


@dataclass(slots=True)
class Durable:
    """The journal a run writes, what it resumes from (None for a new run), and its lock."""

    journal: Journal
    resume: ResumeState | None
    lock: JournalLock

    def close(self) -> None:
        """Close the journal, then let another process have it."""
        try:
            self.journal.close()
        finally:
            self.lock.release()


def start_or_resume(options: RunOptions) -> Durable:
    """Lock and open the run's journal: a new one, or the unfinished one of the same run.

    ``--journal PATH`` names the journal; ``--journal-dir DIR`` names the directory, in
    which the journal's name follows from the run's identity, so the same command line
    finds the same run night after night and other inputs get a journal of their own.
    Either way an unfinished journal of the same run is resumed and a finished one is
    ``AlreadyFinished``; a finished one of another run is refused (exit 2), never
    reported as done. ``JournalInUse`` if another process has the journal.
    """
    now = options.settings(fingerprints(options.inputs))
    if options.journal_dir is not None:
        # The account changes between runs: a finished selection is no answer for the next.
        again = options.account is not None
        path = str(journal_in(options.journal_dir, run_identity(now), again_when_finished=again))
    else:
        path = options.journal or new_journal_path()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"journal {path}: cannot be created ({exc.strerror})") from exc
    lock = JournalLock.acquire(path)  # before the journal is read: see journal_lock
    try:
        if not os.path.exists(path):
            return Durable(Journal.create(path, now), None, lock)
        journal = Journal.open(path)
        try:
            resume = _same_run(journal, now, options)
        except BaseException:
            journal.close()
            raise
        return Durable(journal, resume, lock)
    except BaseException:
        lock.release()
        raise


def _same_run(journal: Journal, now: dict[str, Any], options: RunOptions) -> ResumeState:
    """What the locked ``journal`` leaves to do, if it records this same run unfinished."""
    recorded = journal.settings
    differences = other_run(recorded, now)
    if journal.finished:
        differences = differences or changed_inputs(recorded, _fingerprints_in(now))
        if differences:
            raise UsageError(_finished_other_run(journal, differences))
        raise AlreadyFinished(journal.path)
    if differences:
        raise UsageError(
            f"journal {journal.path} records another run ({', '.join(differences)}); "
            "give a new --journal path"
        )
    return pick_up(journal, force=options.force, now=_fingerprints_in(now))


def _finished_other_run(journal: Journal, differences: list[str]) -> str:
    finished_at = journal.meta("finished_at")
    when = (
        time.strftime(" %Y-%m-%d %H:%M UTC", time.gmtime(finished_at))
        if isinstance(finished_at, int | float)
        else ""
    )
    return (
        f"journal {journal.path} holds a run of different work, finished{when}: "
        + "; ".join(differences)
        + ". Nothing was sent. A journal records one run: give a new --journal path, or, "
        "for a command line that runs again and again (cron), --journal-dir DIR, which "
        "resumes an unfinished run of the same inputs and update and otherwise starts a "
        "new journal in DIR"
    )


def _fingerprints_in(settings: dict[str, Any]) -> list[InputFingerprint]:
    return [
        InputFingerprint(item["path"], item["size"], item["sha256"]) for item in settings["inputs"]
    ]


def open_locked(path: str) -> tuple[Journal, JournalLock]:
    """Lock the journal at ``path``, then open it (``bulkupdate resume``)."""
    if not Path(path).is_file():
        raise UsageError(f"journal {path}: no such file")
    lock = JournalLock.acquire(path)
    try:
        return Journal.open(path), lock
    except BaseException:
        lock.release()
        raise


def pick_up(
    journal: Journal, *, force: bool, now: list[InputFingerprint] | None = None
) -> ResumeState:
    """What ``journal`` left to do, once its inputs are checked (unless ``force``)."""
    if journal.finished:
        journal.close()
        raise AlreadyFinished(journal.path)
    problems = changed_inputs(journal.settings, now)
    if problems and not force:
        journal.close()
        raise UsageError(
            f"the inputs changed since the run in {journal.path} began: "
            + "; ".join(problems)
            + ". Resuming would skip or repeat entries; add --force to resume anyway, "
            "from the same position"
        )
    return journal.resume_state()


class AlreadyFinished(UsageError):
    """The journal records a finished run of the same work: there is nothing to resume."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the run in {path} has finished; see: bulkupdate status {path}")
        self.path = path
