"""Where the command may write: report and journal paths, checked before anything is sent.

A report is written when the run ends, so a bad ``--report`` found only then would come
after every number was sent, and a report written over an input would destroy the
user's list. So, before the first request: the folder must exist and take new files,
the path must not be a directory, must not be one of the inputs or the journal
(compared by resolved path and by inode, so links and ``./`` spellings count), and an
existing file is only written over if it is a report bulkupdate wrote. A journal path
must be new or hold a bulkupdate journal. Devices and pipes (``/dev/null``) may be
written to: that overwrites nothing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Sequence

import orjson

from bulkupdate.errors import UsageError
from bulkupdate.runs.report_columns import CSV_COLUMNS

SQLITE_MAGIC = b"SQLite format 3\x00"
_REPORT_KEYS = frozenset({"status", "attempts", "job_ids", "errors"})
_HEAD = 64 * 1024  # bytes read of an existing file to tell whether it is a report


def check_run_paths(
    *,
    inputs: Sequence[str],
    report: str | None,
    journal: str | None,
    journal_folder: str | None,
) -> None:
    """Raise ``UsageError`` unless a run may write its report and its journal.

    ``journal`` is the ``--journal`` given; without one the journal is a new file in
    ``journal_folder``, created if missing (None: no journal, as in a dry run).
    """
    if journal is not None:
        check_journal_path(journal, inputs=inputs)
    elif journal_folder is not None:
        _check_new_folder(journal_folder, "the journal folder")
    if report is not None:
        written = [journal] if journal is not None else []
        check_report_path(report, flag="--report", inputs=inputs, journal=written)


def check_report_path(
    path: str, *, flag: str, inputs: Iterable[str], journal: Iterable[str] = ()
) -> None:
    """Raise ``UsageError`` unless a report may be written at ``path``."""
    shown = path or "''"
    if not path:
        raise UsageError(f"{flag} needs a file name")
    info = _stat(path)
    if info is None:
        _check_new_file(path, flag)
        return
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{flag} {shown}: is a directory; give the path of a file")
    for other in inputs:
        if _same_file(info, other):
            raise UsageError(
                f"{flag} {shown}: is the input {other}; writing the report would destroy it"
            )
    for other in journal:
        for part in (other, other + "-wal", other + "-shm"):
            if _same_file(info, part):
                raise UsageError(f"{flag} {shown}: is the run's journal; give another path")
    if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
        return  # /dev/null, a named pipe: writing there overwrites nothing
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{flag} {shown}: is not a regular file")
    _check_writable(path, flag)
    if not _is_report(path):
        raise UsageError(
            f"{flag} {shown}: exists and is not a bulkupdate report; it is left as it is: "
            "give a new path, or remove the file first"
        )


def check_journal_path(path: str, *, inputs: Iterable[str]) -> None:
    """Raise ``UsageError`` unless ``path`` is a new file or a bulkupdate journal."""
    shown = path or "''"
    if not path:
        raise UsageError("--journal needs a file name")
    info = _stat(path)
    if info is None:
        _check_new_file(path, "--journal")
        return
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"--journal {shown}: is a directory; give the path of a file")
    for other in inputs:
        if _same_file(info, other):
            raise UsageError(f"--journal {shown}: is the input {other}; give another path")
    if not is_sqlite_file(path):
        raise UsageError(
            f"--journal {shown}: exists and is not a bulkupdate journal; it is left as it "
            "is: give a new path"
        )
    _check_writable(path, "--journal")


def is_sqlite_file(path: str) -> bool:
    """Whether ``path`` starts like an SQLite database (an empty file does not).

    SQLite would happily turn an empty or missing file into a database: look first.
    """
    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


# -- helpers ---------------------------------------------------------------------------


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)  # follows links: what would be written is the target
    except (FileNotFoundError, NotADirectoryError):
        return None  # its folder says why
    except OSError as exc:
        raise UsageError(f"{path}: cannot be checked ({exc.strerror})") from exc


def _same_file(info: os.stat_result, other: str) -> bool:
    if other == "-":
        return False
    try:
        found = os.stat(other)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino)


def _folder_of(path: str) -> str:
    return os.path.dirname(os.path.realpath(path)) or "."


def _check_new_file(path: str, flag: str) -> None:
    folder = _folder_of(path)
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise UsageError(f"{flag} {path}: the folder {folder} {what}")
    _check_folder_takes_files(folder, f"{flag} {path}")


def _check_new_folder(folder: str, what: str) -> None:
    """``folder`` may be created (or is there already) and take new files."""
    if os.path.isdir(folder):
        _check_folder_takes_files(folder, f"{what} {folder}")
    elif os.path.exists(folder):
        raise UsageError(f"{what} {folder}: is not a folder; move it away or give --journal")
    else:
        _check_folder_takes_files(_folder_of(folder), f"{what} {folder}")


def _check_folder_takes_files(folder: str, what: str) -> None:
    # Permission bits do not tell (root, read-only mounts, ACLs): try, leaving nothing.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{what}: cannot be written in {folder} ({exc.strerror or exc})") from exc


def _check_writable(path: str, flag: str) -> None:
    try:
        with open(path, "r+b"):  # opened for writing, truncated nothing
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot be written ({exc.strerror or exc})") from exc


def _is_report(path: str) -> bool:
    """Whether ``path`` holds a report bulkupdate wrote (JSON Lines or CSV), or nothing.

    Read, not stat'ed: files in /proc say they are empty.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(_HEAD)
    except OSError:
        return False
    if not head:
        return True  # an empty file loses nothing
    first = head.split(b"\n", 1)[0]
    if first.decode("utf-8", "replace") == ",".join(CSV_COLUMNS):
        return True
    try:
        row = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(row, dict) and row.keys() >= _REPORT_KEYS
