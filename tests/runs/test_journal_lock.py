"""The journal's lock: one holder, a clear refusal for the next, nothing left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bulkupdate.errors import JournalInUse, UsageError
from bulkupdate.runs.journal_lock import Holder, JournalLock, lock_path


def test_a_second_holder_is_refused_at_once_and_told_who_has_it(tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    with JournalLock.acquire(journal) as first:
        assert first.held
        with pytest.raises(JournalInUse) as refused:
            JournalLock.acquire(journal)  # a second open file: flock refuses it as it would
    message = str(refused.value)
    assert f"process {os.getpid()} on {socket.gethostname()}" in message
    assert "nothing was sent" in message
    assert f"bulkupdate status {journal}" in message
    assert refused.value.journal == str(journal)


def test_the_lock_file_names_its_holder_and_goes_with_the_lock(tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    lock = JournalLock.acquire(journal)
    holder = Holder.parse(lock_path(journal).read_bytes())
    assert holder is not None
    assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
    assert stat_mode(lock_path(journal)) == 0o600
    lock.release()
    assert not lock_path(journal).exists()
    assert not lock.held
    lock.release()  # twice is harmless
    JournalLock.acquire(journal).release()  # and the journal is free again


def test_a_lock_file_left_by_a_killed_process_does_not_hold_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from bulkupdate.runs.journal_lock import JournalLock; "
            "JournalLock.acquire(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
            str(journal),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    with pytest.raises(JournalInUse, match=f"process {child.pid} "):
        JournalLock.acquire(journal)
    child.kill()
    child.wait(timeout=10)
    child.stdout.close()
    assert lock_path(journal).exists()  # the kernel let go of the lock, the file stays
    with JournalLock.acquire(journal):
        holder = Holder.parse(lock_path(journal).read_bytes())
        assert holder is not None
        assert holder.pid == os.getpid()


def test_a_holder_not_yet_named_is_another_process(tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    with JournalLock.acquire(journal):
        lock_path(journal).write_bytes(b"")  # as if it had just taken the lock
        with pytest.raises(JournalInUse, match="in use by another process"):
            JournalLock.acquire(journal)
    assert Holder.parse(b"not json") is None
    assert Holder.parse(orjson.dumps({"pid": 1})) is None


def test_a_lock_in_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be locked"):
        JournalLock.acquire(tmp_path / "missing" / "run.journal")


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
