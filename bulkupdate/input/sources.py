"""Open number lists and yield their raw records, whatever the format.

Formats: plain text (one entry a line; blank lines and ``#`` comments ignored), CSV or
TSV with a header row, and JSON Lines (``{"phone_number": ...}`` or ``{"id": ...}``). Any
of them may be gzip-compressed; that is recognised by the magic bytes, not the name.
``-`` reads standard input.

Nothing here holds a whole file: records stream out one at a time, and the scanner
(``scan.py``) turns them into numbers in chunks.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, cast

import orjson

from bulkupdate.errors import InputFileError
from bulkupdate.escaping import printable
from bulkupdate.input.line_guard import LineGuard
from bulkupdate.input.lines import MAX_LINE, CsvLines, LongLine, RecordTooLong, bounded_lines

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
UTF8 = "utf-8-sig"  # UTF-8 that drops a byte-order mark, as Windows editors write one
# Byte-order marks of the encodings other than UTF-8 that a number list may come in
# (Excel's "Unicode text" is UTF-16). UTF-32's come first: they start with UTF-16's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)

# Header names recognised without --column, in order of preference. Values in an id
# column are phone-number ids whatever they look like.
NUMBER_COLUMNS = ("phone_number", "phone", "number", "e164", "msisdn", "telephone", "tn", "did")
ID_COLUMNS = ("id", "phone_number_id", "number_id")


class InputFormat(StrEnum):
    TEXT = "text"
    CSV = "csv"
    TSV = "tsv"
    JSONL = "jsonl"


_EXTENSIONS = {
    ".txt": InputFormat.TEXT,
    ".csv": InputFormat.CSV,
    ".tsv": InputFormat.TSV,
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
}


@dataclass(frozen=True, slots=True)
class Record:
    """One raw entry: where it stands, its text, and whether its field names it an id."""

    line: int
    raw: str
    is_id: bool = False


class RecordError(ValueError):
    """A line that holds no usable entry (bad JSON, missing column); ``str()`` says why."""

    def __init__(self, line: int, raw: str, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.raw = raw


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIN else path


def check_readable(path: str) -> None:
    """Fail before anything is sent if ``path`` cannot be read."""
    if path == STDIN:
        return
    if os.path.isdir(path):
        raise InputFileError(f"{path}: is a directory, not a number list")
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            # A named pipe opened and closed here would leave its writer writing to no
            # one; whether it can be read is all there is to check.
            if not os.access(path, os.R_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
            return
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


@dataclass(slots=True)
class TextInput:
    """An input opened for reading: its lines, the long ones left out, and how far in."""

    lines: Iterator[str]  # none longer than lines.MAX_LINE; a long one comes out empty
    long_lines: list[LongLine]  # the lines left out so far, for the reader to reject
    position: Callable[[], int]  # bytes read of the file on disk (compressed, for gzip)


@contextmanager
def open_text(path: str) -> Iterator[TextInput]:
    """Open ``path`` (or stdin) as text, decompressing gzip when the magic bytes say so.

    UTF-8, or UTF-16/UTF-32 when a byte-order mark says so. Undecodable bytes become
    U+FFFD so the line is rejected rather than the file. No line is held longer than
    ``lines.MAX_LINE``, whatever the file holds.
    """
    try:
        raw = sys.stdin.buffer if path == STDIN else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    # peek() needs a buffered reader; stdin replaced by a test may not be one.
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    binary: IO[bytes] = buffered
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        binary = cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
    encoding = _encoding(binary)
    long_lines: list[LongLine] = []
    guarded: IO[bytes] = binary
    if encoding == UTF8:
        guarded = io.BufferedReader(LineGuard(binary, long_lines), buffer_size=MAX_LINE)
    text = io.TextIOWrapper(guarded, encoding=encoding, errors="replace", newline="")
    lines = text if encoding == UTF8 else bounded_lines(text, long_lines)
    try:
        yield TextInput(lines, long_lines, _position(buffered))
    finally:
        if path == STDIN:
            text.detach()  # leave the process's stdin open
        else:
            text.close()
            binary.close()  # the guard does not close what it reads
            buffered.close()  # nor does GzipFile


def _position(buffered: IO[bytes]) -> Callable[[], int]:
    def position() -> int:
        try:
            return buffered.tell()
        except (OSError, ValueError):
            return 0  # a pipe has no position

    return position


def _encoding(binary: IO[bytes]) -> str:
    peek = getattr(binary, "peek", None)
    head = peek(4)[:4] if peek is not None else b""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return UTF8


def detect_format(path: str, first_line: str) -> InputFormat:
    """The format by extension (``.gz`` aside), else by the first non-blank line."""
    name = path.lower().removesuffix(".gz")
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    head = first_line.lstrip()
    if head.startswith("{"):
        return InputFormat.JSONL
    if "\t" in head:
        return InputFormat.TSV
    if "," in head or ";" in head:
        return InputFormat.CSV
    return InputFormat.TEXT


def csv_records(
    lines: Iterable[str], source: str, *, delimiter: str, column: str | None
) -> Iterator[Record | RecordError]:
    """Records from one column of a CSV/TSV file with a header row.

    A record csv cannot parse, or one that runs on too long (an unclosed quote), is one
    ``RecordError``; reading goes on at the next line.
    """
    counted = CsvLines(iter(lines))
    reader = csv.reader(counted, delimiter=delimiter)
    try:
        header = next(reader, None)
    except (csv.Error, RecordTooLong) as exc:
        raise InputFileError(f"{source}: the header row cannot be read ({exc})") from None
    if header is None:
        return
    names = [name.strip().lower() for name in header]
    index, is_id = _choose_column(names, source, column)
    while True:
        counted.record_read()
        try:
            for row in reader:
                counted.record_read()
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if index >= len(row):
                    raw = (delimiter.join(row))[:80]
                    yield RecordError(counted.line, raw, f"no value in column {header[index]!r}")
                    continue
                value = row[index].strip()
                if value:
                    yield Record(counted.line, value, is_id)
            return
        except (csv.Error, RecordTooLong) as exc:
            yield RecordError(counted.line, "", f"not valid CSV: {exc}")
            reader = csv.reader(counted, delimiter=delimiter)  # the old one is spent


def _choose_column(names: list[str], source: str, column: str | None) -> tuple[int, bool]:
    if column is not None:
        wanted = column.strip().lower()
        if wanted not in names:
            raise InputFileError(f"{source}: no column {column!r}; the header has: {_names(names)}")
        return names.index(wanted), wanted in ID_COLUMNS
    for name in NUMBER_COLUMNS:
        if name in names:
            return names.index(name), False
    for name in ID_COLUMNS:
        if name in names:
            return names.index(name), True
    raise InputFileError(
        f"{source}: cannot tell which column holds the numbers (header: {_names(names)}); "
        "name it with --column"
    )


def _names(names: list[str]) -> str:
    """A header's column names for a message: escaped, and not a screenful."""
    return printable(", ".join(names), limit=200)


def jsonl_records(lines: Iterable[str], column: str | None) -> Iterator[Record | RecordError]:
    """Records from JSON Lines: ``{"phone_number": ...}`` or ``{"id": ...}`` per line."""
    keys = (column,) if column else ("phone_number", "id")
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            yield RecordError(number, text, "not valid JSON")
            continue
        if not isinstance(obj, dict):
            yield RecordError(number, text, "not a JSON object")
            continue
        for key in keys:
            value = obj.get(key)
            if value is None:
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                yield RecordError(number, text, f"{key!r} is not a string")
                break
            yield Record(number, value, key in ID_COLUMNS)
            break
        else:
            yield RecordError(number, text, f"no {' or '.join(repr(k) for k in keys)} field")
