"""The numbers a run has read and not yet put in a post, kept as the chunks they came in.

The journal needs each posted number's ``seq`` (its place in the input). Batches are cut
from the input in order and, as a rule, posted in that order, so a post takes the next
numbers of the chunks read: its seqs are one run, known from where it starts, without
looking a thousand numbers up in a dictionary (a lookup each a few cache misses, in a
process that touched megabytes of answers since the number was read: about a second
of CPU a million numbers). A post of anything else (a part of a batch, numbers back for
another try, a batch overtaken by the next one) finds no run here; the journal then
``spill``s what is left into its value → seq map and looks its numbers up there.

Whether a post is that run is told by identity: the batch holds the very string objects
the chunk holds, so comparing the two compares pointers, touching no number.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class FreshNumbers:
    """Chunks of numbers in seq order, taken from the front by posts."""

    __slots__ = ("_chunks", "_taken")

    def __init__(self) -> None:
        self._chunks: deque[tuple[int, tuple[str, ...]]] = deque()  # (first seq, values)
        self._taken = 0  # of the first chunk's values, how many posts have taken

    def __repr__(self) -> str:
        return f"<FreshNumbers {len(self)} in {len(self._chunks)} chunks>"

    def __len__(self) -> int:
        return sum(len(values) for _, values in self._chunks) - self._taken

    def add(self, first_seq: int, values: Sequence[str]) -> None:
        """A chunk read: ``values`` have the seqs from ``first_seq`` on."""
        if values:
            self._chunks.append((first_seq, tuple(values)))

    def take(self, values: Sequence[str]) -> int | None:
        """If ``values`` are the next numbers in order, take them and return the first
        one's seq (the others follow it); else None, and nothing is taken."""
        count = len(values)
        if not count or not self._chunks:
            return None
        first_seq, chunk = self._chunks[0]
        if chunk[self._taken] is not values[0]:
            return None
        wanted = tuple(values)
        matched, index, at = 0, 0, self._taken
        while matched < count:  # the run may go on into the next chunks
            if index == len(self._chunks):
                return None
            chunk = self._chunks[index][1]
            piece = chunk[at : at + count - matched]
            if piece != wanted[matched : matched + len(piece)]:  # pointers, as a rule
                return None
            matched += len(piece)
            index, at = index + 1, 0
        start = first_seq + self._taken
        self._drop(count)
        return start

    def spill(self, into: dict[str, int]) -> None:
        """Put every number left, with its seq, ``into`` a value → seq map; none is left."""
        taken = self._taken
        for first_seq, values in self._chunks:
            into.update(
                zip(values[taken:], range(first_seq + taken, first_seq + len(values)), strict=True)
            )
            taken = 0
        self._chunks.clear()
        self._taken = 0

    def _drop(self, count: int) -> None:
        chunks = self._chunks
        while count:
            left = len(chunks[0][1]) - self._taken
            if count < left:
                self._taken += count
                return
            count -= left
            chunks.popleft()
            self._taken = 0
