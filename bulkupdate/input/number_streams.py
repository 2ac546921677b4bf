"""Whatever the caller hands over as numbers, as an async stream of scanned chunks.

Files (``NumberFiles``), plain iterables of strings and async iterables of strings all
end up as ``Chunk``s from one ``Scanner``, so normalisation, rejection and duplicate
detection are the same everywhere. Blocking work (reading files, normalising) runs in a
worker thread, one hop per chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import anyio

from bulkupdate.input.normalise import Normaliser
from bulkupdate.input.scan import CHUNK_SIZE, Chunk, Scanner, input_size
from bulkupdate.input.sources import STDIN, InputFormat, check_readable


@dataclass(frozen=True, slots=True)
class NumberFiles:
    """Number lists on disk (or ``-`` for stdin) and how to read them.

    >>> NumberFiles("numbers.csv", default_region="US", column="did")  # doctest: +SKIP
    """

    paths: tuple[str, ...]
    default_region: str | None = None
    column: str | None = None
    ids: bool = False
    strict: bool = False
    input_format: InputFormat | None = None

    def __init__(
        self,
        *paths: str,
        default_region: str | None = None,
        column: str | None = None,
        ids: bool = False,
        strict: bool = False,
        input_format: InputFormat | None = None,
    ) -> None:
        object.__setattr__(self, "paths", tuple(str(p) for p in paths))
        object.__setattr__(self, "default_region", default_region)
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "strict", strict)
        object.__setattr__(self, "input_format", input_format)
        Normaliser(default_region, ids_only=ids, strict=strict)  # a bad region fails now

    def scanner(self) -> Scanner:
        normaliser = Normaliser(self.default_region, ids_only=self.ids, strict=self.strict)
        return Scanner(normaliser, column=self.column, input_format=self.input_format)

    def check(self) -> None:
        """Raise ``InputFileError`` for the first input that cannot be read, or whose
        CSV header names no column to read the numbers from."""
        for path in self.paths:
            check_readable(path)
        scanner = self.scanner()
        for path in self.paths:
            if path != STDIN:
                scanner.check_header(path)


@dataclass(slots=True)
class InputStream:
    """Chunks to feed the engine, and how far through its input the stream is."""

    chunks: AsyncIterator[Chunk]
    scanner: Scanner
    fraction: Callable[[], float | None] = field(default=lambda: None)


def open_input(
    numbers: NumberFiles | Iterable[str] | AsyncIterable[str],
    *,
    default_region: str | None = None,
    ids: bool = False,
    strict: bool = False,
) -> InputStream:
    """An ``InputStream`` over any supported kind of input.

    For iterables, ``default_region``, ``ids`` and ``strict`` say how to read the strings
    (a ``NumberFiles`` carries its own).
    """
    if isinstance(numbers, NumberFiles):
        numbers.check()
        scanner = numbers.scanner()
        total = input_size(numbers.paths)
        blocking = scanner.scan_paths(numbers.paths)

        def fraction() -> float | None:
            return None if not total else min(1.0, scanner.bytes_read / total)

        return InputStream(_in_threads(blocking), scanner, fraction)
    scanner = Scanner(Normaliser(default_region, ids_only=ids, strict=strict))
    if isinstance(numbers, str | bytes):
        raise TypeError("numbers must be an iterable of strings, not a single string")
    if isinstance(numbers, AsyncIterable):
        return InputStream(_scan_async(numbers, scanner), scanner)
    return InputStream(_in_threads(scanner.scan_strings(numbers)), scanner)


async def _in_threads(chunks: Iterator[Chunk]) -> AsyncIterator[Chunk]:
    """Pull a blocking chunk iterator in a worker thread, one thread hop per chunk."""
    while True:
        chunk = await anyio.to_thread.run_sync(next, chunks, None)
        if chunk is None:
            return
        yield chunk


async def _scan_async(numbers: AsyncIterable[str], scanner: Scanner) -> AsyncIterator[Chunk]:
    """Gather strings from an async source into groups; scan each in a worker thread
    (messy numbers cost ~15 µs each in ``phonenumbers``: not on the event loop)."""
    group: list[str] = []
    position = 0
    async for value in numbers:
        group.append(value)
        if len(group) >= CHUNK_SIZE:
            for chunk in await _scan_group(scanner, group, position):
                yield chunk
            position += len(group)
            group = []
    if group:
        for chunk in await _scan_group(scanner, group, position):
            yield chunk


async def _scan_group(scanner: Scanner, group: list[str], position: int) -> list[Chunk]:
    return await anyio.to_thread.run_sync(
        lambda: list(scanner.scan_strings(group, first_line=position + 1))
    )
