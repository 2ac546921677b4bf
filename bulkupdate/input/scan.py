"""Scan input into chunks of new, normalised numbers; reject and deduplicate on the way.

A chunk holds a few thousand entries (numbers, rejections and repeats alike), so an async
caller pays one thread hop per chunk, not per line. Nothing keeps more than one chunk,
except the compact set of numbers seen; no line is held longer than ``lines.MAX_LINE``.
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bulkupdate.credentials import without_keys
from bulkupdate.input.clean_lines import CleanLines
from bulkupdate.input.dedupe import SeenSet
from bulkupdate.input.lines import LongLine, line_blocks
from bulkupdate.input.normalise import Normaliser, Rejected, is_id_text
from bulkupdate.input.sources import (
    STDIN,
    InputFormat,
    Record,
    RecordError,
    csv_records,
    detect_format,
    display_name,
    jsonl_records,
    open_text,
)

# Entries a chunk holds: one hop to the worker thread and back, and one journal row. Each
# hop may wake the event loop from idle (0.1-0.7 ms of CPU on a virtual machine): at
# 16k, a million numbers take 62 hops, and a chunk's strings about 1 MB.
CHUNK_SIZE = 16384
RAW_TEXT_LIMIT = 80
_FEW = 16  # numbers taken one by one once a bisection has narrowed a repeat down to them
_READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input entry that will never be sent, with where it stands and why."""

    source: str
    line: int
    raw: str
    reason: str

    @classmethod
    def of(cls, source: str, line: int, raw: str, reason: str) -> Rejection:
        # An API key pasted into a number list is no number: it goes no further than here
        # (not to the journal, a report or a message).
        raw = without_keys(raw)
        if len(raw) > RAW_TEXT_LIMIT:
            raw = raw[: RAW_TEXT_LIMIT - 1] + "…"
        return cls(source, line, raw, reason)

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}: {self.raw!r}"


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An entry whose number was already seen in this run; it is sent once."""

    source: str
    line: int
    value: str


@dataclass(slots=True)
class Chunk:
    """New numbers (and ids) in input order, plus what was turned away beside them."""

    values: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.values or self.rejections or self.duplicates)

    def full(self, size: int) -> bool:
        """Whether the chunk holds ``size`` entries of one kind: time to hand it on."""
        return len(self.values) >= size or len(self.rejections) + len(self.duplicates) >= size


@dataclass(slots=True)
class ScanCounts:
    entries: int = 0
    valid: int = 0
    rejected: int = 0
    duplicates: int = 0


class Scanner:
    """Reads sources into ``Chunk``s, counting what it sees.

    One scanner is one run: a number seen in any source is sent once.
    """

    def __init__(
        self,
        normaliser: Normaliser | None = None,
        *,
        column: str | None = None,
        input_format: InputFormat | None = None,
        chunk_size: int = CHUNK_SIZE,
        seen: SeenSet | None = None,
    ) -> None:
        self.normaliser = normaliser or Normaliser()
        self.column = column
        self.input_format = input_format
        self.chunk_size = chunk_size
        self.seen = seen if seen is not None else SeenSet()
        self.counts = ScanCounts()
        # A +E.164 entry is taken as it is, without the normaliser, where the normaliser
        # would take it so (not ids only, not strict); clean runs of a text file are
        # then told in C.
        as_written = not self.normaliser.ids_only and not self.normaliser.strict
        self._clean = CleanLines() if as_written else None
        self.bytes_read = 0  # of the (compressed) files, as of the last chunk handed out

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"<Scanner entries={c.entries} valid={c.valid} rejected={c.rejected} "
            f"duplicates={c.duplicates}>"
        )

    def scan_paths(self, paths: Iterable[str]) -> Iterator[Chunk]:
        for path in paths:
            yield from self.scan_path(path)

    def scan_path(self, path: str) -> Iterator[Chunk]:
        source = display_name(path)
        last_line = 0
        chunk = Chunk()
        size = self.chunk_size
        done_before = self.bytes_read
        long_lines: list[LongLine] = []  # noted by the reader as it leaves them out
        try:
            with open_text(path) as opened:
                position, long_lines = opened.position, opened.long_lines
                first = next(opened.lines, "")
                fmt = self.input_format or detect_format(path, first)
                lines = itertools.chain((first,), opened.lines)
                if fmt is InputFormat.TEXT and self.column is None and self._clean is not None:
                    # (a read error comes after the lines read before it: they are kept)
                    for block in line_blocks(opened.lines, size, first):
                        last_line = self._take_block(
                            chunk, source, last_line, block, long_lines, self._clean
                        )
                        if chunk:
                            self.bytes_read = done_before + position()
                            yield chunk
                            chunk = Chunk()
                elif fmt is InputFormat.TEXT and self.column is None:
                    for line, text in _text_lines(lines):
                        if long_lines:
                            self._reject_long(chunk, source, long_lines)
                        last_line = line
                        self._take(chunk, source, line, text, False)
                        if chunk.full(size):
                            self.bytes_read = done_before + position()
                            yield chunk
                            chunk = Chunk()
                else:
                    for record in _records(lines, fmt, source, self.column):
                        if long_lines:
                            self._reject_long(chunk, source, long_lines)
                        last_line = record.line
                        if isinstance(record, RecordError):
                            self.counts.entries += 1
                            self._reject(chunk, source, record.line, record.raw, str(record))
                        else:
                            self._take(chunk, source, record.line, record.raw, record.is_id)
                        if chunk.full(size):
                            self.bytes_read = done_before + position()
                            yield chunk
                            chunk = Chunk()
        except _READ_ERRORS as exc:
            # A truncated gzip or a failing disk: keep what was read, say where it stopped.
            # The unread rest counts as one rejected entry so the run cannot end clean.
            self.counts.entries += 1
            self._reject(chunk, source, last_line + 1, "", f"cannot read past this line ({exc})")
        if long_lines:
            self._reject_long(chunk, source, long_lines)
        self.bytes_read = done_before + _file_size(path)
        if chunk:
            yield chunk

    def check_header(self, path: str) -> None:
        """Raise ``InputFileError`` now if ``path``'s header names no column to read.

        The scan would find out too, but only once the files before it were sent.
        """
        if not os.path.isfile(path):
            return  # a pipe or a device: what is read now would be missing from the run
        try:
            with open_text(path) as opened:
                first = next(opened.lines, "")
                fmt = self.input_format or detect_format(path, first)
                if fmt in (InputFormat.CSV, InputFormat.TSV):
                    chained = itertools.chain((first,), opened.lines)
                    next(_records(chained, fmt, display_name(path), self.column), None)
        except _READ_ERRORS:
            pass  # the scan reports it, with the line it stopped at

    def scan_strings(
        self, values: Iterable[str], source: str = "<input>", first_line: int = 1
    ) -> Iterator[Chunk]:
        """Scan entries given as strings (the library's input); ``line`` is the position."""
        chunk = Chunk()
        for line, raw in enumerate(values, first_line):
            if not isinstance(raw, str):
                self.counts.entries += 1
                self._reject(chunk, source, line, repr(raw), "not a string")
                continue
            self._take(chunk, source, line, raw, False)
            if chunk.full(self.chunk_size):
                yield chunk
                chunk = Chunk()
        if chunk:
            yield chunk

    def _take(self, chunk: Chunk, source: str, line: int, raw: str, is_id: bool) -> None:
        counts = self.counts
        counts.entries += 1
        text = raw.strip()
        normaliser = self.normaliser
        if is_id:
            if not is_id_text(text):
                self._reject(chunk, source, line, raw, "not a phone-number id (digits only)")
                return
            value = text
        elif (
            text[:1] == "+"
            and self._clean is not None
            and text[1:].isdigit()
            and normaliser.is_possible_e164(text)
        ):
            value = text  # the fast path: already canonical +E.164
        else:
            try:
                value = normaliser(text)
            except Rejected as exc:
                self._reject(chunk, source, line, raw, str(exc))
                return
        if self.seen.add(value):
            counts.valid += 1
            chunk.values.append(value)
        else:
            counts.duplicates += 1
            chunk.duplicates.append(Duplicate(source, line, value))

    def _take_block(
        self,
        chunk: Chunk,
        source: str,
        line: int,
        block: list[str],
        long_lines: list[LongLine],
        clean: CleanLines,
    ) -> int:
        """Take the lines of a text file in ``block``, the first of which is line
        ``line + 1``; the number of the last.

        Runs of clean +E.164 lines are taken a run at a time, in C (``clean_lines``),
        when every number in the run is new; anything else a line at a time, as
        ``_take``, and its calling code is learnt for the runs to come.
        """
        text = "".join(block)
        counts = self.counts
        start, index = 0, 0
        while index < len(block):
            end = clean.end(text, start)
            if end > start:
                run = text[start:end]
                values = run.split()
                counts.entries += len(values)
                self._take_numbers(chunk, source, line + 1, values)
                line += len(values)
                index += len(values)
                start = end
                continue
            raw = block[index]
            line += 1
            index += 1
            start += len(raw)
            if long_lines:
                self._reject_long(chunk, source, long_lines)
            stripped = raw.strip()
            if stripped and stripped[0] != "#":
                self._take(chunk, source, line, stripped, False)
                clean.learn(stripped)
        if long_lines:
            self._reject_long(chunk, source, long_lines)
        return line

    def _take_numbers(self, chunk: Chunk, source: str, line: int, numbers: list[str]) -> None:
        """Take clean +E.164 ``numbers`` of consecutive lines from ``line`` (counted
        already as entries), telling the new ones from the repeats.

        As a whole when all are new; else by bisection, so that the few repeats of a
        long run are found in a few steps of C, and then one by one."""
        counts, seen = self.counts, self.seen
        if seen.add_new(numbers):
            counts.valid += len(numbers)
            chunk.values.extend(numbers)
            return
        if len(numbers) > _FEW:
            half = len(numbers) // 2
            self._take_numbers(chunk, source, line, numbers[:half])
            self._take_numbers(chunk, source, line + half, numbers[half:])
            return
        for number, value in enumerate(numbers, line):
            if seen.add(value):
                counts.valid += 1
                chunk.values.append(value)
            else:
                counts.duplicates += 1
                chunk.duplicates.append(Duplicate(source, number, value))

    def _reject(self, chunk: Chunk, source: str, line: int, raw: str, reason: str) -> None:
        """Record a rejection of an entry already counted in ``counts.entries``."""
        self.counts.rejected += 1
        chunk.rejections.append(Rejection.of(source, line, raw.strip(), reason))

    def _reject_long(self, chunk: Chunk, source: str, long_lines: list[LongLine]) -> None:
        """Reject the lines too long to read that ``bounded_lines`` has skipped so far."""
        for long in long_lines:
            self.counts.entries += 1
            self._reject(chunk, source, long.line, long.head, long.reason)
        long_lines.clear()


def input_size(paths: Iterable[str]) -> int | None:
    """Total bytes of the inputs, or None if one of them (stdin, a pipe) has no size."""
    total = 0
    for path in paths:
        if path == STDIN or not os.path.isfile(path):
            return None
        total += os.path.getsize(path)
    return total


def _file_size(path: str) -> int:
    try:
        return 0 if path == STDIN else os.path.getsize(path)
    except OSError:
        return 0


def _text_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text and text[0] != "#":
            yield number, text


def _records(
    lines: Iterable[str], fmt: InputFormat, source: str, column: str | None
) -> Iterator[Record | RecordError]:
    if fmt is InputFormat.JSONL:
        return jsonl_records(lines, column)
    if fmt is InputFormat.TEXT:  # a plain list read with --column is still one column
        return (Record(line, text) for line, text in _text_lines(lines))
    delimiter = "\t" if fmt is InputFormat.TSV else ","
    return csv_records(lines, source, delimiter=delimiter, column=column)
