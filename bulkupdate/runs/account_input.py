"""The account's own numbers as a run's input: pages of ``GET /phone_numbers``, as chunks.

``AccountSource`` reads a selection (``AccountNumbers``) with the backward sweep
(``input/listing_sweep.py``, which is what makes it exact while the run's jobs change the numbers it
lists) through the run's own ``ApiClient``: every page is a request from the same rate
budget as the jobs and their polls, paced by the same governor. Each page's new numbers
become a ``Chunk``, the shape the engine reads files in, so the engine needs nothing of
its own for it. The engine asks for the next page once it has batched the last; its
spare submitters hold ready batches while a page is read, and a page is read while jobs
run, so neither the listing nor the jobs wait on the other.

With a journal (``SelectionStore``) every page read is recorded, and a resumed run
carries on where the sweep stood; the numbers it had queued come back from the journal
as any input's do.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from bulkupdate.api.client import GET_ATTEMPTS, ApiClient
from bulkupdate.errors import ListingError
from bulkupdate.input.listing_sweep import LARGEST_PAGE, SORT, OutOfOrder, Sweep, SweepState, Window
from bulkupdate.input.scan import Chunk
from bulkupdate.request.selection import AccountNumbers
from bulkupdate.runs.account_pages import SelectionStore

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class AccountSource:
    """The numbers of ``selection``, read page by page as the engine asks for them."""

    def __init__(
        self,
        client: ApiClient,
        selection: AccountNumbers,
        *,
        store: SelectionStore | None = None,
        on_event: Callable[..., None] | None = None,
        on_total: Callable[[int], None] | None = None,
        largest: int = LARGEST_PAGE,
    ) -> None:
        self.client = client
        self.selection = selection
        self.store = store
        self.sweep = Sweep(store.state() if store is not None else SweepState(), largest)
        self._on_event = on_event  # told when the whole selection has been read
        self._on_total = on_total  # told how many numbers matched, once the first page says

    def __repr__(self) -> str:
        return f"<AccountSource {self.selection.describe()} {self.sweep.state}>"

    def fraction(self) -> float | None:
        """How much of the selection has been read (0..1), as far as the listing said how
        much there was."""
        state = self.sweep.state
        if state.done:
            return 1.0
        if not state.total:
            return None
        return min(1.0, state.taken / state.total)

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every number of the selection, once, a page's new numbers at a time."""
        while (window := self.sweep.next_window()) is not None:
            taken = await self.read(window)
            if taken:
                yield Chunk(values=taken)
        if self._on_event is not None:
            state = self.sweep.state
            self._on_event(
                "selection_read",
                filters=self.selection.describe(),
                numbers=state.taken,
                pages=state.pages,
            )

    async def read(self, window: Window) -> list[str]:
        """Read one page; the numbers new to the run on it (the sweep's state moves on)."""
        page = await self.client.list_phone_numbers(
            page_number=window.number,
            page_size=window.size,
            params=[*self.selection.listing_params(), SORT],
            attempts=GET_ATTEMPTS,  # the run cannot do without it: a GET's full patience
        )
        numbers = numbers_on(page.items)
        first = self.sweep.state.position is None
        try:
            taken = self.sweep.feed(window, numbers, page.total_results)
        except OutOfOrder as exc:
            raise ListingError(
                f"GET /phone_numbers?sort=phone_number: {exc}; the selection cannot be read "
                "exactly from a listing out of order, so the run stopped"
            ) from exc
        total = self.sweep.state.total
        if first and total is not None and self._on_total is not None:
            self._on_total(total)
        if self.store is not None:
            self.store.record(
                window, len(numbers), len(taken), page.total_results, self.sweep.state
            )
        return taken


def numbers_on(items: Sequence[Any]) -> list[str]:
    """The +E.164 numbers of a page of ``GET /phone_numbers``, in the page's order."""
    numbers = []
    for item in items:
        number = item.get("phone_number") if isinstance(item, dict) else None
        if not isinstance(number, str) or not _E164.fullmatch(number):
            shown = number if isinstance(number, str) else type(item).__name__
            raise ListingError(
                f"GET /phone_numbers listed an entry without a +E.164 phone_number "
                f"({shown[:40]!r}); the run stopped rather than guess"
            )
        numbers.append(number)
    return numbers
