"""What a run tells its operator while it runs: the event log.

``EventLog`` writes the engine's events either as JSON Lines (for cron and log
collectors: every event, one object a line) or as short text for a person (only the
events that change what the person should do). The progress bar it is printed above is
``progress_bar.py``.

Example::

    log = EventLog(sys.stderr, fmt="text", quiet=quiet)
    log.emit("run_started", journal="run.journal", inputs=paths, kind="update",
             rate=20, max_active_jobs=20, resumed=False)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

import orjson

from bulkupdate.credentials import without_keys
from bulkupdate.errors import UsageError
from bulkupdate.escaping import printable_data

if TYPE_CHECKING:
    pass

LogFormat = Literal["text", "json"]

# Text mode leaves these out unless verbose: a person needs the run's milestones, not a
# line per job. JSON mode keeps everything: a machine can filter.
CHATTY = frozenset({"batch_submitted", "job_finished", "retried"})
# Quiet mode keeps only what asks for action.
ALWAYS = frozenset({"run_interrupted", "unfinished_run_left"})

# Field names that could carry a credential. The log never receives one on purpose; this
# is the net under that promise, so a mistake upstream cannot put a key in a cron log.
_SECRET_NAME = re.compile(
    r"api_?key|token|authori[sz]ation|secret|passw(?:or)?d|credential|(?:^|_)(?:key|auth)(?:_|$)",
    re.IGNORECASE,
)
TEXT_PREFIX = "bulkupdate: "  # every line the command writes for a person starts so


def is_error_event(event: str) -> bool:
    """Events named ``error`` or ``…_error`` are errors: quiet mode still shows them."""
    return event == "error" or event.endswith("_error")


class EventLog:
    """The run's events, as JSON Lines or as text for a person.

    ``emit`` never raises for a missing or odd field: a log line is not worth a failed
    migration. Fields named like credentials are dropped, values shaped like an API key
    are redacted, and control characters in values are escaped.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        fmt: LogFormat,
        quiet: bool = False,
        verbose: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fmt not in ("text", "json"):
            raise UsageError(f"log format {fmt!r}: use text or json")
        self.stream = stream
        self.fmt = fmt
        self.quiet = quiet
        self.verbose = verbose
        self.clock = clock
        self.stream_closed = False

    def __repr__(self) -> str:
        return f"<EventLog fmt={self.fmt} quiet={self.quiet} verbose={self.verbose}>"

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event, if this log's mode shows it."""
        if self.stream_closed or not self.shows(event):
            return
        # Values can carry what the input or the server said: escaped, so a log line
        # cannot be forged or a terminal rewritten (escaping.py).
        clean = {
            name: printable_data(_redact(value))
            for name, value in fields.items()
            if name not in ("ts", "event") and not _SECRET_NAME.search(name)
        }
        if self.fmt == "json":
            ts = datetime.fromtimestamp(self.clock(), tz=UTC).isoformat(timespec="milliseconds")
            record = {"ts": ts.replace("+00:00", "Z"), "event": event, **clean}
            data = orjson.dumps(
                record,
                default=str,
                option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS,
            )
            text = data.decode()
        else:
            text = f"{TEXT_PREFIX}{format_event(event, clean)}\n"
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:
            # The reader went away (`2>&1 | head`): the run goes on, the journal has it all.
            self.stream_closed = True

    def shows(self, event: str) -> bool:
        if self.quiet:
            return event in ALWAYS or is_error_event(event)
        return self.fmt == "json" or self.verbose or event not in CHATTY


def format_event(event: str, fields: dict[str, Any]) -> str:
    """One short line for a person; an event without a wording of its own is listed."""
    try:
        formatter = _TEXT.get(event)
        if formatter is not None:
            return formatter(fields)
    except (KeyError, TypeError, ValueError):
        pass  # a field missing or of the wrong type: fall back to listing them
    listed = " ".join(f"{name}={value}" for name, value in fields.items())
    return f"{event} {listed}".rstrip()


def format_duration(seconds: float) -> str:
    """A short duration for people: under a minute in tenths of a second.

    >>> format_duration(3725), format_duration(42.3), format_duration(90061)
    ('1h 2m 5s', '42.3s', '1d 1h 1m')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{amount}{unit}" for amount, unit in parts if amount]
    return " ".join(shown[:3])


def _run_started(f: dict[str, Any]) -> str:
    given = f.get("inputs") or ()
    inputs = [given] if isinstance(given, str) else [str(path) for path in given]
    named = ", ".join(inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    selection = f.get("selection")
    if isinstance(selection, dict):
        named = "the account's numbers where " + _filters_text(selection)
    verb = "resumed" if f.get("resumed") else "started"
    return (
        f"run {verb}: {f.get('kind', 'update')} from {named or 'no input'}, "
        f"{f['rate']} requests/s, up to {f['max_active_jobs']} jobs at once; "
        f"journal {f.get('journal') or 'none'}"
    )


def _filters_text(filters: dict[str, Any]) -> str:
    return " and ".join(f"{name}={value}" for name, value in filters.items())


def _selection_read(f: dict[str, Any]) -> str:
    if not f["numbers"]:
        return f"no number of the account matches {_filters_text(f['filters'])}: nothing to do"
    pages = f["pages"]
    return (
        f"the account's listing is read: {f['numbers']:,} numbers match "
        f"({pages:,} page{'' if pages == 1 else 's'})"
    )


def _throttled(f: dict[str, Any]) -> str:
    return f"throttled by the API: waiting {f['wait_s']:.1f}s, rate now {f['rate']:g} requests/s"


def _run_finished(f: dict[str, Any]) -> str:
    totals: dict[str, int] = f["totals"]
    counted = ", ".join(
        f"{count:,} {name}" for name, count in totals.items() if name != "entries" and count
    )
    entries = totals.get("entries", 0)
    return (
        f"run finished in {format_duration(f['elapsed_s'])}: {entries:,} entries"
        + (f", {counted}" if counted else "")
        + f" (exit {f['exit_code']})"
    )


def _run_interrupted(f: dict[str, Any]) -> str:
    command = f.get("resume_command")
    return f"run interrupted; resume with: {command}" if command else "run interrupted"


def _journals_pruned(f: dict[str, Any]) -> str:
    count = len(f["journals"])
    return (
        f"removed {count:,} journal{'' if count == 1 else 's'} finished more than "
        f"{f['keep_days']} days ago from {f['directory']}"
    )


def _unfinished_run_left(f: dict[str, Any]) -> str:
    updated = f.get("updated_at")
    when = (
        datetime.fromtimestamp(updated, tz=UTC).strftime(" %Y-%m-%d %H:%M UTC")
        if isinstance(updated, int | float)
        else ""
    )
    return (
        f"another run in this directory is not finished: {f['journal']} "
        f"({f['status']}, last written{when or ' ?'}). Unless a process is running it, "
        f"{f['resume_command']} carries it on if its inputs are as they were, and "
        f"{f['report_command']} lists what it left undone"
    )


def _sandbox_serving(f: dict[str, Any]) -> str:
    return f"sandbox serving at {f['base_url']}"


def _batch_submitted(f: dict[str, Any]) -> str:
    return f"job {f['job_id']}: {f['size']:,} numbers submitted (attempt {f['attempt']})"


def _job_finished(f: dict[str, Any]) -> str:
    return (
        f"job {f['job_id']} {f['status']}: {f['succeeded']:,} succeeded, {f['failed']:,} failed, "
        f"{f['retry']:,} to retry, {f['skipped']:,} skipped"
    )


def _retried(f: dict[str, Any]) -> str:
    return f"retrying {f['numbers']:,} numbers in {f['after_s']:.1f}s"


def _listing_unavailable(f: dict[str, Any]) -> str:
    return (
        f"the account's number list cannot be read ({f['reason']}): numbers the account "
        "does not own are found by splitting refused batches instead"
    )


_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "listing_unavailable": _listing_unavailable,
    "run_started": _run_started,
    "selection_read": _selection_read,
    "throttled": _throttled,
    "run_finished": _run_finished,
    "run_interrupted": _run_interrupted,
    "journals_pruned": _journals_pruned,
    "unfinished_run_left": _unfinished_run_left,
    "sandbox_serving": _sandbox_serving,
    "batch_submitted": _batch_submitted,
    "job_finished": _job_finished,
    "retried": _retried,
}


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return without_keys(value)
    if isinstance(value, dict):
        return {
            name: _redact(item)
            for name, item in value.items()
            if not (isinstance(name, str) and _SECRET_NAME.search(name))
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value
