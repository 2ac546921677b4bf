"""One process per journal: an OS file lock held for as long as a run has its journal open.

The lock is ``flock(2)`` on a file beside the journal (``run.journal.lock``), never on
the SQLite file itself: SQLite takes its own POSIX locks on that file, and closing any
other descriptor of it would drop them. The kernel releases a flock when its holder
dies, however it dies, so a killed run never leaves a journal locked; the holder's pid,
host and start time are written into the lock file so that the process that finds the
journal busy can say who has it.

The lock file exists only while the lock is held (or after its holder was killed): the
holder removes it, still locked, before letting go. A process that opened the old file
just before it was removed would then hold a lock nobody else can see, so ``acquire``
checks, once it has the lock, that its file is still the one at the path, and starts
again if not (the usual lock-file protocol).

Example::

    lock = JournalLock.acquire("run.journal")  # JournalInUse if another process has it
    try:
        ...  # open the journal, decide whether to resume, run, close the journal
    finally:
        lock.release()
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bulkupdate.errors import JournalInUse, UsageError

LOCK_SUFFIX = ".lock"


def lock_path(journal: str | Path) -> Path:
    """The lock file of ``journal``: beside it, named after it."""
    journal = Path(journal)
    return journal.with_name(journal.name + LOCK_SUFFIX)


@dataclass(frozen=True, slots=True)
class Holder:
    """The process a lock file names."""

    pid: int
    host: str
    since: float

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"process {self.pid} on {self.host} (since {since})"

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), time.time())

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        """The holder written in a lock file, or None if it has not been written yet."""
        try:
            found = orjson.loads(data)
            return cls(int(found["pid"]), str(found["host"]), float(found["since"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class JournalLock:
    """An exclusive lock on one journal, held by this process until ``release``."""

    def __init__(self, journal: str, path: Path, fd: int) -> None:
        self.journal = journal
        self.path = path
        self._fd: int | None = fd

    def __repr__(self) -> str:
        state = "held" if self._fd is not None else "released"
        return f"<JournalLock {self.journal} {state}>"

    @classmethod
    def acquire(cls, journal: str | Path) -> JournalLock:
        """Lock ``journal`` (which need not exist yet) or raise ``JournalInUse`` at once."""
        path = lock_path(journal)
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise UsageError(f"journal {journal}: cannot be locked ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = Holder.parse(os.pread(fd, 4096, 0))
                os.close(fd)
                raise JournalInUse(str(journal), holder.describe() if holder else None) from None
            except OSError as exc:
                os.close(fd)
                raise UsageError(f"journal {journal}: cannot be locked ({exc.strerror})") from exc
            if _same_file(fd, path):
                break
            os.close(fd)  # its holder removed it as we opened it: lock the new one
        holder = Holder.me()
        data = orjson.dumps({"pid": holder.pid, "host": holder.host, "since": holder.since})
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        return cls(str(journal), path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file and let go (the file goes first, while still locked)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> JournalLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
