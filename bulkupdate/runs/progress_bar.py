"""The progress bar of a run, and the line count that gives it a total before the input is read.

``ProgressDisplay`` draws a rich progress bar that the engine may feed hundreds of times a
second: ``update`` only stores the latest snapshot and rich's refresh thread draws it a few
times a second. ``count_lines`` gives the bar a total before the input has been read.

Example::

    show_bar = sys.stderr.isatty() and not quiet
    with ProgressDisplay(sys.stderr, total=count_lines(paths), enabled=show_bar) as bar:
        log = EventLog(bar.log_stream, fmt="text", quiet=quiet)  # printed above the bar
        ...  # the engine calls bar.update(progress) and log.emit(...)
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TextIO, cast

from bulkupdate.input.sources import GZIP_MAGIC

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live
    from rich.progress import Progress as Bar
    from rich.progress import TaskID

    from bulkupdate.engine.ledger import Progress


READ_CHUNK = 1 << 20  # count_lines reads 1 MiB at a time


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
