"""Numbers waiting to be sent again, and what each has been through. No I/O.

Numbers from different jobs share retry batches: while fresh input is still coming,
ready numbers join the fresh numbers in full batches (a request costs the same for 1
number as for 1000), or go as full batches of their own; once the input is exhausted
the pool hands out what is ready. Each number waits out its own backoff before it is
ready.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import count

from bulkupdate.api.wire import ErrorObject
from bulkupdate.input.batching import Batch, EntryKind


@dataclass(slots=True)
class History:
    """A number sent before and not final yet: how often, in which jobs, last errors."""

    attempts: int = 0
    job_ids: list[str] = field(default_factory=list)
    errors: tuple[ErrorObject, ...] = ()


class RetryPool:
    """Numbers to send again, ordered by when each becomes ready."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._heaps: dict[EntryKind, list[tuple[float, int, str]]] = {
            EntryKind.NUMBER: [],
            EntryKind.ID: [],
        }
        self._order = count()

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())

    def __repr__(self) -> str:
        return f"<RetryPool {len(self)} numbers>"

    def add(self, value: str, ready_at: float) -> None:
        heapq.heappush(self._heaps[EntryKind.of(value)], (ready_at, next(self._order), value))

    def take(
        self, now: float, *, partial: bool, linger: float = 0.0, gather: float = 0.0
    ) -> Batch | None:
        """A batch of ready numbers: a full one, or if ``partial`` any ready ones, once
        the earliest of them has been ready for ``linger`` seconds; a part-filled batch
        also takes those ready within ``gather`` seconds (the rest of their backoff is
        not worth a job of their own)."""
        for kind, heap in self._heaps.items():
            # (a heap is only partly sorted, so count rather than slice)
            ready = sum(1 for ready_at, _, _ in heap if ready_at <= now)
            lingered = bool(heap) and heap[0][0] + linger <= now  # as next_ready_at adds it
            if ready >= self.batch_size:
                size = self.batch_size
            elif partial and ready and lingered:
                soon = sum(1 for ready_at, _, _ in heap if ready_at <= now + gather)
                size = min(soon, self.batch_size)
            else:
                continue
            values = tuple(heapq.heappop(heap)[2] for _ in range(size))
            return Batch(kind, values)
        return None

    def take_ready(
        self, now: float, *, kind: EntryKind | None = None, limit: int | None = None
    ) -> list[str]:
        """Numbers that are ready (of ``kind``, or either), earliest ready first within a
        kind, at most ``limit`` of them."""
        ready: list[str] = []
        for heap_kind, heap in self._heaps.items():
            if kind is not None and heap_kind is not kind:
                continue
            while heap and heap[0][0] <= now and (limit is None or len(ready) < limit):
                ready.append(heapq.heappop(heap)[2])
        return ready

    def next_ready_at(self, linger: float = 0.0, *, partial: bool = True) -> float | None:
        """When ``take`` with the same ``partial`` and ``linger`` next has a batch: a full
        one, or if ``partial`` the earliest number once it has lingered. None if no batch
        can come without more numbers."""
        size = self.batch_size
        heads = [heapq.nsmallest(size, h)[-1][0] for h in self._heaps.values() if len(h) >= size]
        if partial:
            heads += [heap[0][0] + linger for heap in self._heaps.values() if heap]
        return min(heads) if heads else None
