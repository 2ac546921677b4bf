"""Group numbers into batches of at most 1000 that never mix ids and +E.164 numbers.

The API refuses a request that mixes the two, so ids and numbers fill separate open
batches; each keeps its input order. (Cutting a batch at every switch between the two
kinds would also keep the order across kinds, but a list alternating ids and numbers
would then turn into one-number jobs, a thousand times the requests.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

from bulkupdate.errors import UsageError

MAX_BATCH_SIZE = 1000


class EntryKind(StrEnum):
    """What a value names; the value is also the key the API uses for it."""

    NUMBER = "phone_number"
    ID = "id"

    @staticmethod
    def of(value: str) -> EntryKind:
        return EntryKind.NUMBER if value[:1] == "+" else EntryKind.ID


@dataclass(frozen=True, slots=True)
class Batch:
    """Numbers (or ids) that go to the API in one request."""

    kind: EntryKind
    values: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"<Batch {len(self.values)} {self.kind.value}s>"


def check_batch_size(size: int) -> int:
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise UsageError(
            f"--batch-size {size} is out of range: the API takes 1 to {MAX_BATCH_SIZE} "
            "numbers a request"
        )
    return size


class Batcher:
    """Accumulates values and hands out full batches as they fill."""

    __slots__ = ("_ids", "_numbers", "size")

    def __init__(self, size: int = MAX_BATCH_SIZE) -> None:
        self.size = check_batch_size(size)
        self._numbers: list[str] = []
        self._ids: list[str] = []

    def __repr__(self) -> str:
        return f"<Batcher size={self.size} open={len(self._numbers)}+{len(self._ids)}>"

    def add(self, values: Iterable[str]) -> list[Batch]:
        """Take ``values``; return the batches that filled up, in the order they did."""
        values = values if isinstance(values, list | tuple) else list(values)
        kind = _one_kind(values)
        if kind is not None:  # as a rule: a chunk of numbers, or of ids, filled in slices
            return self._fill(kind, values)
        numbers, ids, size = self._numbers, self._ids, self.size
        full: list[Batch] = []
        for value in values:
            if value[:1] == "+":
                numbers.append(value)
                if len(numbers) == size:
                    full.append(Batch(EntryKind.NUMBER, tuple(numbers)))
                    numbers.clear()
            else:
                ids.append(value)
                if len(ids) == size:
                    full.append(Batch(EntryKind.ID, tuple(ids)))
                    ids.clear()
        return full

    def _fill(self, kind: EntryKind, values: Sequence[str]) -> list[Batch]:
        open_batch = self._numbers if kind is EntryKind.NUMBER else self._ids
        full: list[Batch] = []
        at = 0
        while at < len(values):
            room = self.size - len(open_batch)
            open_batch.extend(values[at : at + room])
            at += room
            if len(open_batch) == self.size:
                full.append(Batch(kind, tuple(open_batch)))
                open_batch.clear()
        return full

    def flush(self) -> list[Batch]:
        """The partly filled batches; the batcher is empty afterwards."""
        rest = [
            Batch(kind, tuple(values))
            for kind, values in ((EntryKind.NUMBER, self._numbers), (EntryKind.ID, self._ids))
            if values
        ]
        self._numbers.clear()
        self._ids.clear()
        return rest


def _one_kind(values: Sequence[str]) -> EntryKind | None:
    """The kind of every value, if they are all of one kind: the values that start with
    "+" counted in C, over the values joined by line breaks (when none holds one)."""
    text = "\n".join(values)
    if not values or text.count("\n") != len(values) - 1:
        return None
    numbers = text.count("\n+") + (text[:1] == "+")
    if numbers == len(values):
        return EntryKind.NUMBER
    return EntryKind.ID if numbers == 0 else None


def batched(values: Iterable[str], size: int = MAX_BATCH_SIZE) -> Iterator[Batch]:
    """All of ``values`` as batches: full ones as they fill, then the remainders."""
    batcher = Batcher(size)
    remaining = iter(values)
    while piece := list(islice(remaining, batcher.size)):
        yield from batcher.add(piece)
    yield from batcher.flush()
