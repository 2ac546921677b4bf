"""Finding the numbers that are not the account's, when the API will not say which.

A 422 "You must own every number in the bulk request" refuses a whole batch because
of one number. Two ways to find the culprits:

* **Bisection** (adaptive group testing): send each half of a refused batch; a half
  that is accepted becomes a job, a refused half is split again, a refused single
  number is the culprit. Cheap when refusals are rare; with k culprits in n numbers it
  costs about 2·k·log2(n/k) requests and splinters the batch into many small jobs.
* **Inventory**: read the account's numbers through ``GET /phone_numbers`` (250 a page)
  once, then screen every batch before it is sent. Costs one request a page, whatever
  the number of refusals.

``OwnershipResolver`` starts with bisection and, in ``auto`` mode, switches to the
inventory as soon as the bisection it expects for the rest of the run would cost more
requests than the inventory's pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from bulkupdate.client import ApiClient
from bulkupdate.dedupe import number_key
from bulkupdate.settings import OwnershipMode
from bulkupdate.wire import ErrorObject, Page

INVENTORY_PAGE_TASKS = 4


OWNERSHIP_ERROR: ErrorObject = {
    "code": "10015",
    "title": "Bad Request",
    "detail": "You must own every number in the bulk request",
    "source": {"pointer": "/phone_numbers"},
}


@dataclass(slots=True)
class OwnershipStats:
    refused_batches: int = 0
    bisect_requests: int = 0
    inventory_requests: int = 0
    unowned: int = 0


class Inventory:
    """The account's numbers and ids, as compact keys (see ``dedupe.number_key``)."""

    def __init__(self) -> None:
        self._keys: set[int] = set()
        self.ready = anyio.Event()

    def __repr__(self) -> str:
        state = "ready" if self.ready.is_set() else "loading"
        return f"<Inventory {len(self._keys)} numbers, {state}>"

    def owns(self, value: str) -> bool:
        return number_key(value) in self._keys

    def add_page(self, items: Sequence[object]) -> None:
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("status") in ("deleted", "ported-out"):
                continue
            number, number_id = item.get("phone_number"), item.get("id")
            if isinstance(number, str) and number.startswith("+") and number[1:].isdigit():
                self._keys.add(number_key(number))
            if isinstance(number_id, str) and number_id.isdigit():
                self._keys.add(number_key(number_id))


class OwnershipResolver:
    """Chooses between bisection and the inventory, and runs the inventory's loading."""

    def __init__(
        self,
        client: ApiClient,
        mode: OwnershipMode = OwnershipMode.AUTO,
        *,
        remaining_batches: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.client = client
        self.mode = mode
        self.stats = OwnershipStats()
        self.inventory: Inventory | None = None
        self.error: ErrorObject = OWNERSHIP_ERROR
        self._remaining_batches = remaining_batches
        self._batches_seen = 0
        self._first_page: Page | None = None

    def __repr__(self) -> str:
        return f"<OwnershipResolver {self.mode.value} {self.stats} {self.inventory!r}>"

    @property
    def screening(self) -> bool:
        return self.inventory is not None and self.inventory.ready.is_set()

    def seen_batch(self) -> None:
        self._batches_seen += 1

    def screen(self, values: Sequence[str]) -> tuple[list[str], list[str]]:
        """Split ``values`` into (owned, unowned) by the inventory; all owned without one."""
        inventory = self.inventory
        if inventory is None or not inventory.ready.is_set():
            return list(values), []
        owned: list[str] = []
        unowned: list[str] = []
        for value in values:
            (owned if inventory.owns(value) else unowned).append(value)
        return owned, unowned

    def refused(self, errors: Sequence[ErrorObject]) -> None:
        """A batch was refused for ownership (not counting bisection's own requests)."""
        self.stats.refused_batches += 1
        if errors:
            self.error = dict(errors[0])

    async def consider_inventory(self) -> bool:
        """After a refusal: whether to load the inventory now (see the module docstring).

        In auto mode the first refusal is always bisected (it may be the only one). From
        the second, the first page tells the account's size, so the cost of the rest of
        the inventory is known exactly; the expected cost of bisecting is the refusal
        share so far times the batches still to come times what a bisection has cost.
        """
        if self.inventory is not None or self.mode is OwnershipMode.BISECT:
            return self.inventory is not None
        if self.mode is OwnershipMode.INVENTORY:
            return True
        stats = self.stats
        if stats.refused_batches < 2 or self._batches_seen == 0:
            return False
        if self._first_page is None:
            self._first_page = await self.client.list_phone_numbers(page_number=1)
            self.stats.inventory_requests += 1
        refusal_share = stats.refused_batches / self._batches_seen
        cost_each = stats.bisect_requests / max(1, stats.refused_batches - 1)
        expected = refusal_share * self._remaining_batches() * cost_each
        return self._first_page.total_pages - 1 < expected

    async def load_inventory(self) -> None:
        """Read every page of ``GET /phone_numbers`` (a few pages at a time)."""
        if self.inventory is not None:
            await self.inventory.ready.wait()
            return
        inventory = self.inventory = Inventory()
        first = self._first_page
        if first is None:
            first = await self.client.list_phone_numbers(page_number=1)
            self.stats.inventory_requests += 1
        inventory.add_page(first.items)
        pages = iter(range(2, first.total_pages + 1))

        async def fetch_pages() -> None:
            for number in pages:
                page = await self.client.list_phone_numbers(page_number=number)
                self.stats.inventory_requests += 1
                inventory.add_page(page.items)

        async with anyio.create_task_group() as group:
            for _ in range(INVENTORY_PAGE_TASKS):
                group.start_soon(fetch_pages)
        inventory.ready.set()
