"""The exceptions bulkupdate raises, rooted in one base class.

::

    BulkUpdateError
    ├── UsageError              bad flags or settings; nothing was read or sent (exit 2)
    │   ├── SpecError           the update spec or filters are invalid; lists every problem
    │   └── InputFileError      an input file cannot be opened or read
    ├── ReportNotWritten        the run ended, its report could not be written (exit 74)
    └── ApiError                the API answered with an error body (status, error objects)
        ├── AuthError           401 or 403: stop the whole run (exit 3)
        ├── NotFoundError       404
        ├── RequestRefused      422: the request was refused as a whole
        ├── RateLimited         429
        └── ServerError         5xx, 408
    TransportError              the request's outcome is unknown: timeout, reset, refused
    (also a BulkUpdateError)
    ListingError                the account's listing cannot be read exactly (out of order,
    (also a BulkUpdateError)    an entry without a number): --from-account stops
    JournalInUse                another process has the run's journal; nothing was sent (exit 75)
    (also a BulkUpdateError)

The CLI maps these branches to exit codes; any other exception is a bug, which it
reports in one line (exit 70), never as a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class BulkUpdateError(Exception):
    """Base of every error bulkupdate raises on purpose."""


class UsageError(BulkUpdateError):
    """A flag, setting or argument is wrong; nothing has been read or sent."""


class SpecError(UsageError):
    """The update spec or its filters are invalid.

    ``problems`` lists every problem found, each naming the field and what is allowed.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            super().__init__(f"invalid update spec: {self.problems[0]}")
        else:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            super().__init__(f"invalid update spec:\n{listed}")


class InputFileError(UsageError):
    """An input file cannot be opened or read."""


class ReportNotWritten(BulkUpdateError):
    """The run ended but its report could not be written (the disk filled, the folder
    went away); the journal holds everything the report would have."""


class ApiError(BulkUpdateError):
    """The API answered with an error status.

    ``errors`` holds the API's error objects as they came (``code``, ``title``,
    ``detail``, ``source``, ``meta``).
    """

    def __init__(
        self, status: int, errors: Sequence[dict[str, Any]], *, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.errors = list(errors)
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {describe_errors(self.errors)}")

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code", "")) for e in self.errors]

    @property
    def details(self) -> list[str]:
        return [str(e.get("detail", "")) for e in self.errors]


class AuthError(ApiError):
    """401 or 403: the key is refused or lacks permission; the run stops."""


class NotFoundError(ApiError):
    """404: the resource does not exist."""


class RequestRefused(ApiError):
    """422: the request was refused as a whole."""


class RateLimited(ApiError):
    """429: too many requests in the current window."""


class ServerError(ApiError):
    """5xx or 408: the server failed; the request may or may not have taken effect."""


class TransportError(BulkUpdateError):
    """No usable answer: connection refused or reset, timeout, or an unreadable body.

    ``sent`` is False when the request never left (no connection could be made): the
    server cannot have acted on it. Otherwise, for a POST, it may or may not have.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class ListingError(BulkUpdateError):
    """``GET /phone_numbers`` answered in a way a selection cannot be read exactly from:
    out of phone-number order, or an entry without a +E.164 number. The run stops (and can
    be resumed); nothing is guessed."""


class JournalInUse(BulkUpdateError):
    """Another process holds the journal's lock: this one stopped before sending anything.

    ``holder`` describes that process (pid, host, since when), or is None if it had not
    written its name yet.
    """

    def __init__(self, journal: str, holder: str | None) -> None:
        self.journal = journal
        self.holder = holder
        super().__init__(
            f"journal {journal} is in use by {holder or 'another process'}; nothing was sent. "
            f"Try again once that run has ended (bulkupdate status {journal} shows how it stands)"
        )


def describe_errors(errors: Sequence[dict[str, Any]]) -> str:
    """A one-line summary of API error objects, for messages and logs."""
    if not errors:
        return "no error details"
    parts = []
    for error in errors:
        text = f"{error.get('code', '?')} {error.get('detail') or error.get('title') or ''}".strip()
        source = error.get("source")
        pointer = source.get("pointer") if isinstance(source, dict) else source
        if pointer:
            text += f" ({pointer})"
        parts.append(text)
    return "; ".join(parts)


def first_known_error(group: BaseExceptionGroup[BaseException]) -> BulkUpdateError | None:
    """The first of our own errors in a task group's exception group, however nested.

    When one task's error (a refused key, a server that never answers) ends a task
    group, the caller should see that error, not the group that carried it.
    """
    for error in group.exceptions:
        if isinstance(error, BulkUpdateError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = first_known_error(error)
            if found is not None:
                return found
    return None


def error_key(error: dict[str, Any]) -> tuple[str, str, str]:
    """An error object as (code, detail, pointer): what summaries count errors by."""
    source = error.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else source
    return (
        str(error.get("code", "")),
        str(error.get("detail") or error.get("title") or ""),
        str(pointer or ""),
    )
