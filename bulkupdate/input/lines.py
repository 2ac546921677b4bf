"""Lines of an input stream, none held longer than a fixed limit.

A number list is read a line at a time, and a line is only as big as the file says: a
gzip bomb of zeros, a 1 GB file without a newline or a file of NUL bytes would each be
one line, held whole. A line longer than ``MAX_LINE`` is never held: it comes out as an
empty line (so every later line keeps its number), and where it stood, its first
characters and its length are noted as a ``LongLine`` for the scanner to reject.
Compressed input is measured after decompression, like any other.

UTF-8 input (nearly all) is guarded below the decoder, in bytes, by ``line_guard.py``.
``bounded_lines`` does the same for text in other encodings (UTF-16, UTF-32), counting
characters, with ``readline``'s limit: slower to skip, but they are rare.

CSV adds one more way to grow: a quoted field may span lines, so one record can run on
to the end of the file (an unclosed quote). ``CsvLines`` counts the characters of the
record csv is reading and stops it at ``MAX_RECORD``.

>>> import io
>>> long_lines = []
>>> text = io.StringIO("+13125550100\\n" + "9" * 70_000 + "\\n+13125550101\\n", newline="")
>>> [line.strip() for line in bounded_lines(text, long_lines)]
['+13125550100', '', '+13125550101']
>>> [(long.line, long.length, long.head[:5]) for long in long_lines]
[(2, 70000, '99999')]
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

MAX_LINE = 64 * 1024  # characters; a phone number needs 16, a CSV row of a few fields 200
MAX_RECORD = 2 * MAX_LINE  # a CSV record over several lines (a quoted field with newlines)
PIECE = 1 << 20  # how much of a long line is read at a time while skipping it
HEAD = 100  # characters of a long line kept to show where it starts
_NEWLINES = "\r\n"
# Characters ``line_blocks`` reads at a time (more within a long line). A read that
# fails loses what it had decoded: the lines before a damaged part of a file that are
# left unread stay that few.
READ_SIZE = 1024
# Line breaks of str.splitlines() that a reader with newline="" leaves inside a line
# (each looked for with ``in``: a character class searched by ``re`` is 20 times slower).
_OTHER_BREAKS = ("\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line that was too long to read: its number, first characters and length."""

    line: int
    head: str
    length: int
    unit: str = "bytes"

    @property
    def reason(self) -> str:
        return (
            f"line too long: {self.length:,} {self.unit}, more than the {MAX_LINE:,} "
            "a line may hold (is this a number list?)"
        )


def bounded_lines(
    stream: TextIO, long_lines: list[LongLine], *, limit: int = MAX_LINE
) -> Iterator[str]:
    """The lines of ``stream`` (opened with ``newline=""``); long ones come out empty.

    A line of more than ``limit`` characters is never held: it is read ``PIECE``
    characters at a time up to its end, and a ``LongLine`` is appended to
    ``long_lines``. Memory stays near ``limit + PIECE`` characters whatever the input.
    """
    readline = stream.readline
    size = limit + 1
    number = 0
    while line := readline(size):
        number += 1
        if len(line) > limit and line[-1] not in _NEWLINES:
            long_lines.append(_skip_rest(readline, number, line))
            line = "\n"
        yield line


def line_blocks(stream: Iterator[str], size: int, first: str = "") -> Iterator[list[str]]:
    """The lines of ``stream`` (opened with ``newline=""``), ``size`` at a time, after
    ``first``, the line already read from it: the lines iterating it gives, each with its
    line break, and the last block shorter.

    Iterating a text stream reads each line in a call of its own; a text stream is read
    here ``READ_SIZE`` characters at a time and split in C, for half the CPU. Any other
    iterator of lines is taken as it comes. A read error comes after the lines read
    before it.
    """
    lines = [first] if first else []
    if not isinstance(stream, io.TextIOBase):
        while True:
            try:
                lines.extend(itertools.islice(stream, size - len(lines)))
            except Exception:
                if lines:
                    yield lines
                raise
            if not lines:
                return
            yield lines
            lines = []
    read, partial = stream.read, ""
    while True:
        try:
            # Within a long line, each read is as long as what is held of it: the line is
            # copied a few times, not once a READ_SIZE.
            piece = read(max(READ_SIZE, len(partial)))
        except Exception:
            yield from _in_blocks(lines, size)
            raise
        if not piece:
            if partial:
                lines.append(partial)
            yield from _in_blocks(lines, size)
            return
        if partial[-1:] == "\r":  # a line break of one character, or two if \n comes
            if piece[0] == "\n":
                partial, piece = partial + "\n", piece[1:]
            lines.append(partial)
            partial = ""
        if piece:
            # Only the new piece is split: what is held of a line has no break in it.
            found = _split_lines(piece)
            found[0] = partial + found[0]
            # A line without its break yet, or ending in \r that a \n may follow, waits
            # for the next piece.
            partial = "" if found[-1][-1] == "\n" else found.pop()
            lines += found
        if len(lines) >= size:
            whole = len(lines) - len(lines) % size
            yield from _in_blocks(lines[:whole], size)
            del lines[:whole]


def _split_lines(text: str) -> list[str]:
    """``text``'s lines, each with its break, broken where ``newline=""`` breaks them."""
    if any(other in text for other in _OTHER_BREAKS):
        return _LINE.findall(text)
    return text.splitlines(keepends=True)


def _in_blocks(lines: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


def _skip_rest(readline: Callable[[int], str], number: int, start: str) -> LongLine:
    length = len(start)
    while piece := readline(PIECE):
        length += len(piece)
        if piece[-1] in _NEWLINES:
            length -= len(piece) - len(piece.rstrip(_NEWLINES))  # the line ending
            break
    return LongLine(number, start[:HEAD], length, "characters")


class RecordTooLong(ValueError):
    """A CSV record ran past ``MAX_RECORD`` characters, from ``first`` to ``last`` line."""

    def __init__(self, first: int, last: int) -> None:
        super().__init__(
            f"a CSV record over {MAX_RECORD:,} characters, from line {first} to {last} "
            "(an unclosed quote?)"
        )
        self.first = first
        self.last = last


class CsvLines:
    """Lines for ``csv.reader``: counted, and no record allowed past ``MAX_RECORD``.

    ``line`` is the number of the last line handed out. Call ``record_read()`` after each
    row; when a record grows too long ``RecordTooLong`` is raised from inside the reader,
    which is then spent: start a new ``csv.reader`` on this same object to go on.
    """

    __slots__ = ("_lines", "_record", "_record_start", "line")

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.line = 0
        self._record = 0
        self._record_start = 1

    def __iter__(self) -> CsvLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.line += 1
        self._record += len(line)
        if self._record > MAX_RECORD:
            first = self._record_start
            self.record_read()
            raise RecordTooLong(first, self.line)
        return line

    def record_read(self) -> None:
        self._record = 0
        self._record_start = self.line + 1
