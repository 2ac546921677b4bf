"""A binary stream that drops every line longer than a limit, before anything decodes it.

Sits between the (decompressed) bytes of an input and the text decoder. Complete lines
pass through untouched; a line that grows past ``limit`` bytes is not held: the bytes
already seen of it are let go, the rest is skipped with a byte search up to its end, and
a blank line (a space and its line break) goes on in its place, so every later line
keeps its number. Skipping a gigabyte this way costs a ``find`` per block, not the
decoding and string building a text reader would spend on it.

Line breaks are counted as ``TextIOWrapper(newline="")`` counts them (``\\n``, ``\\r``
and ``\\r\\n`` once), so the number noted for a long line is the one a reader of the
text sees. UTF-8 only: its line-break bytes never occur inside another character.

>>> import io
>>> long_lines = []
>>> data = b"+13125550100\\n" + b"9" * 70_000 + b"\\r\\n+13125550101\\n"
>>> guard = LineGuard(io.BytesIO(data), long_lines)
>>> io.BufferedReader(guard).read().split(b"\\n")
[b'+13125550100', b' \\r', b'+13125550101', b'']
>>> [(long.line, long.length) for long in long_lines]
[(2, 70000)]
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO

from bulkupdate.input.lines import HEAD, MAX_LINE, LongLine

_CR = 0x0D
# What stands in for a long line: a blank line to every reader, and unlike an empty one
# it cannot join a \r before it and a \n after it into one \r\n line break.
PLACEHOLDER = b" "


class LineGuard(io.RawIOBase):
    """``source``'s bytes with every line over ``limit`` bytes replaced by its line break.

    Each long line is appended to ``long_lines`` as it ends. Wrap it in an
    ``io.BufferedReader`` for a ``TextIOWrapper``.
    """

    def __init__(
        self, source: IO[bytes], long_lines: list[LongLine], *, limit: int = MAX_LINE
    ) -> None:
        super().__init__()
        read: Callable[[int], bytes] = getattr(source, "read1", source.read)
        self._read = read
        self._limit = limit
        self._block = limit  # no line wholly inside one block can be over the limit
        self.long_lines = long_lines
        self._ready = bytearray()  # complete lines, waiting to be read
        self._partial = bytearray()  # the line in progress, at most `limit` bytes
        self._breaks = 0  # line breaks before the line in progress
        self._cr_last = False  # the last byte taken was \r: a \n next is the same break
        self._skipping: LongLine | None = None  # the long line being skipped
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._ready and not self._eof:
            self._take(self._read(self._block))
        size = min(len(buffer), len(self._ready))
        with memoryview(self._ready) as ready:
            buffer[:size] = ready[:size]
        del self._ready[:size]
        return size

    def _take(self, block: bytes) -> None:
        if not block:
            self._end()
            return
        if self._skipping is not None:
            first = _first_break(block)
            if first < 0:
                self._skip(len(block))
                return
            self._skip(first)
            self._finish_skipping()
            self._partial = bytearray(PLACEHOLDER)
            block = block[first:]
        last = max(block.rfind(b"\n"), block.rfind(b"\r"))
        if last < 0:
            self._partial += block
            self._cr_last = False  # a \r that ended an earlier block is no longer last
            if len(self._partial) > self._limit:
                self._start_skipping(len(self._partial))
            return
        first = _first_break(block)
        if len(self._partial) + first > self._limit:  # the line in progress ends too long
            self._start_skipping(len(self._partial))
            self._skip(first)
            self._finish_skipping()
            self._ready += PLACEHOLDER
            self._ready += memoryview(block)[first : last + 1]
        else:
            self._ready += self._partial
            self._ready += memoryview(block)[: last + 1]
        self._count_breaks(block[: last + 1])
        self._partial = bytearray(block[last + 1 :])
        self._cr_last = block[last] == _CR and last == len(block) - 1

    def _count_breaks(self, lines: bytes) -> None:
        breaks = lines.count(b"\n")
        if self._cr_last and lines[:1] == b"\n":
            breaks -= 1  # the \r that ended the last block and this \n are one break
        if b"\r" in lines:  # Windows or old Mac line ends: \r\n counts once
            breaks += lines.count(b"\r") - lines.count(b"\r\n")
        self._breaks += breaks

    def _start_skipping(self, length: int) -> None:
        head = bytes(self._partial[:HEAD]).decode("utf-8", "replace").lstrip("\ufeff")
        self._skipping = LongLine(self._breaks + 1, head, length)
        self._partial = bytearray()
        self._cr_last = False

    def _skip(self, length: int) -> None:
        long = self._skipping
        assert long is not None
        self._skipping = LongLine(long.line, long.head, long.length + length)

    def _finish_skipping(self) -> None:
        assert self._skipping is not None
        self.long_lines.append(self._skipping)
        self._skipping = None

    def _end(self) -> None:
        self._eof = True
        if self._skipping is not None:
            self._finish_skipping()
        else:
            self._ready += self._partial  # a last line without a line break
        self._partial = bytearray()


def _first_break(block: bytes) -> int:
    lf, cr = block.find(b"\n"), block.find(b"\r")
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)
