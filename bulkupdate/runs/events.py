"""What a run tells its operator while it runs: an event log, a progress bar, a line count.

``EventLog`` writes the engine's events either as JSON Lines (for cron and log
collectors: every event, one object a line) or as short text for a person (only the
events that change what the person should do). ``ProgressDisplay`` draws a rich progress
bar that the engine may feed hundreds of times a second: ``update`` only stores the
latest snapshot and rich's refresh thread draws it a few times a second. ``count_lines``
gives the bar a total before the input has been read.

Example::

    show_bar = sys.stderr.isatty() and not quiet
    with ProgressDisplay(sys.stderr, total=count_lines(paths), enabled=show_bar) as bar:
        log = EventLog(bar.log_stream, fmt="text", quiet=quiet)  # printed above the bar
        log.emit("run_started", journal="run.journal", inputs=paths, kind="update",
                 rate=20, max_active_jobs=20, resumed=False)
        ...  # the engine calls bar.update(progress) and log.emit(...)
"""

from __future__ import annotations

import gzip
import os
import re
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast

import orjson

from bulkupdate.credentials import without_keys
from bulkupdate.errors import UsageError
from bulkupdate.escaping import printable_data
from bulkupdate.input.sources import GZIP_MAGIC

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live
    from rich.progress import Progress as Bar
    from rich.progress import TaskID

    from bulkupdate.engine.ledger import Progress

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

READ_CHUNK = 1 << 20  # count_lines reads 1 MiB at a time


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


class ProgressDisplay:
    """A progress bar of numbers done out of the input's entries, with rate and ETA.

    When ``enabled`` is false every method is a no-op and rich is not even imported.
    ``update`` stores the snapshot and returns: rich's refresh thread reads the latest one
    a few times a second, so the engine may call it as often as it likes. While the total
    is unknown the bar counts against the entries read so far; once the input is read the
    snapshot's entry count is exact and replaces any estimate from ``set_total``.
    ``force_terminal`` is passed to rich's Console (None: rich decides from the stream).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        total: int | None,
        enabled: bool,
        force_terminal: bool | None = None,
        refresh_per_second: float = 8.0,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self._total = total
        self._latest: Progress | None = None
        self._live: Live | None = None
        if enabled:
            self._start(force_terminal, refresh_per_second)

    def __repr__(self) -> str:
        done = None if self._latest is None else self._latest.numbers_done
        return f"<ProgressDisplay enabled={self.enabled} done={done} total={self._total}>"

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, progress: Progress) -> None:
        self._latest = progress

    def set_total(self, n: int | None) -> None:
        self._total = n

    def close(self) -> None:
        """Draw the final state and give the terminal back; safe to call twice."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    @property
    def log_stream(self) -> TextIO:
        """Where to write lines meant for the person while the bar is shown.

        Lines written here are printed above the bar; written straight to the stream they
        would be drawn over by its next refresh.
        """
        if self._live is None:
            return self.stream
        from rich.file_proxy import FileProxy

        return cast(TextIO, FileProxy(self._live.console, self.stream))

    # -- drawing (rich's refresh thread) ---------------------------------------------

    def _start(self, force_terminal: bool | None, refresh_per_second: float) -> None:
        # rich is imported here so that a run without a bar (and `status`) never pays
        # for it.
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        console = Console(file=self.stream, force_terminal=force_terminal, highlight=False)
        self._bar: Bar = Bar(
            TextColumn("numbers"),
            BarColumn(),
            TextColumn("{task.fields[done]}", markup=False),
            TextColumn("{task.fields[rate]}", markup=False),
            TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}", markup=False),
            console=console,
            auto_refresh=False,
        )
        done, rate, extra = self._fields()
        self._task: TaskID = self._bar.add_task(
            "numbers", total=self._total, done=done, rate=rate, extra=extra
        )
        # Our own Live rather than the bar's: it calls _render on each refresh, which is
        # where the stored snapshot is turned into bar state. stdout is never redirected:
        # it may carry a report.
        self._live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=refresh_per_second,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start(refresh=True)

    def _render(self) -> RenderableType:
        bar, latest = self._bar, self._latest
        done, rate, extra = self._fields(latest)
        if latest is None:
            bar.update(self._task, total=self._total, done=done, rate=rate, extra=extra)
        else:
            bar.update(
                self._task,
                completed=latest.numbers_done,
                total=self._shown_total(latest),
                done=done,
                rate=rate,
                extra=extra,
            )
        return bar.get_renderable()

    def _shown_total(self, latest: Progress) -> int | None:
        if latest.input_done:
            return latest.entries
        if self._total is not None:
            return max(self._total, latest.entries)
        return None  # rich draws a pulsing bar; the text says "so far"

    def _fields(self, latest: Progress | None = None) -> tuple[str, str, str]:
        """The bar's texts: numbers done of the total, rate, and the counts worth a look."""
        if latest is None:
            total = "?" if self._total is None else f"{self._total:,}"
            return f"0/{total}", "", ""
        total_shown = self._shown_total(latest)
        done = (
            f"{latest.numbers_done:,}/{latest.entries:,} so far"
            if total_shown is None
            else f"{latest.numbers_done:,}/{total_shown:,}"
        )
        speed = self._bar.tasks[0].speed
        extra = [
            f"{count:,} {name}"
            for name, count in (("failed", latest.failed), ("retrying", latest.waiting_retry))
            if count
        ]
        return done, f"{speed:,.0f}/s" if speed else "", ", ".join(extra)


def count_lines(paths: Sequence[str]) -> int | None:
    """An estimate of the entries in ``paths`` for the progress bar: their line count.

    Counts newline bytes 1 MiB at a time, through gzip when the content starts with its
    magic bytes; a last line without a newline counts. None when a path is ``-`` or a
    pipe (they cannot be read twice: counting would leave the run nothing) or a file
    cannot be read: the scanner reports that properly.
    """
    total = 0
    for path in paths:
        if path == "-" or not os.path.isfile(path):
            return None
        try:
            total += _count_file(path)
        except (OSError, EOFError, zlib.error):
            return None
    return total


def _count_file(path: str) -> int:
    with open(path, "rb") as raw:
        compressed = raw.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)] == GZIP_MAGIC
        with gzip.GzipFile(fileobj=raw) if compressed else raw as file:
            lines = 0
            last = b"\n"
            while chunk := file.read(READ_CHUNK):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
            return lines + (last != b"\n")
