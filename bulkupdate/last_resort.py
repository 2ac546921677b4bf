"""The command's last resort: what becomes of an error nobody planned for.

No traceback reaches a user. An exception outside bulkupdate's own tree is a bug: the
person gets one line saying what failed and that it is a bug; with ``--log-format json``
the log gets the whole story (type, message, traceback) as one JSON event, for the bug
report. Neither ever holds the API key. A closed pipe (``bulkupdate report RUN | head``)
is no error at all: the reader has what it wanted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import TextIO

from bulkupdate.credentials import without_key
from bulkupdate.escaping import printable
from bulkupdate.version import __version__

SHOWN = 300  # characters of the exception's message in the one line


def report_bug(
    exc: BaseException, *, command: str, log_format: str, stream: TextIO | None = None
) -> None:
    """Tell the person (and the JSON log) that ``command`` failed on a bug."""
    stream = stream or sys.stderr
    key = os.environ.get("TELNYX_API_KEY")
    leaf = first_leaf(exc)
    message = without_key(str(leaf), key)
    if log_format == "json":
        from bulkupdate.runs.events import EventLog

        detail = "".join(traceback.format_exception(exc))
        EventLog(stream, fmt="json").emit(
            "internal_error",
            command=command,
            error=type(leaf).__name__,
            message=message,
            traceback=without_key(detail, key),
            version=__version__,
        )
    what = f"{type(leaf).__name__}: {message}" if message else type(leaf).__name__
    with contextlib.suppress(OSError):  # stderr itself gone: nothing more can be said
        print(
            f"bulkupdate: internal error in '{command}': {printable(what, SHOWN)}. This is a "
            f"bug in bulkupdate {__version__}; please report it"
            + ("" if log_format == "json" else " (--log-format json logs the details)"),
            file=stream,
        )


def first_leaf(exc: BaseException) -> BaseException:
    """The first exception that is not a group: what a task group's failure is about."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def quiet_closed_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's last flush
    does not complain about the pipe at exit."""
    # stdout may not be a file descriptor (a test's capture): then there is nothing to do.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
