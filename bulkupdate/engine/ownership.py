"""Finding the numbers that are not the account's, when the API will not say which.

A 422 "You must own every number in the bulk request" refuses a whole batch because
of one number. Two ways to find the culprits:

* **Bisection** (adaptive group testing): send each half of a refused batch; a half
  that is accepted becomes a job, a refused half is split again, a refused single
  number is the culprit. Cheap when refusals are rare; with k culprits in n numbers it
  costs about 2·k·log2(n/k) requests and splinters the batch into many small jobs.
* **Inventory**: read the account's numbers through ``GET /phone_numbers`` (250 a page)
  once, then screen every batch before it is sent. Costs one request a page, whatever
  the number of refusals. While the pages come in, what they list goes out and the rest
  waits for them (see ``waiting_room.py``): the job slots do not idle meanwhile.

``OwnershipResolver`` starts with bisection and, in ``auto`` mode, switches to the
inventory as soon as the bisection it expects for the rest of the run would cost more
requests than the inventory's pages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import anyio

from bulkupdate.api.client import ApiClient
from bulkupdate.api.wire import ErrorObject, Page
from bulkupdate.engine.waiting_room import WaitingRoom
from bulkupdate.errors import ApiError, TransportError, first_known_error
from bulkupdate.input.dedupe import number_key
from bulkupdate.settings import OwnershipMode

INVENTORY_PAGE_TASKS = 4


OWNERSHIP_ERROR: ErrorObject = {
    "code": "10015",
    "title": "Bad Request",
    "detail": "You must own every number in the bulk request",
    "source": {"pointer": "/phone_numbers"},
}


class Verdict(StrEnum):
    """How far the inventory's word on *unlisted* numbers is trusted.

    A listed number is owned: the listing is the API's own answer. An unlisted number
    is unowned only if the inventory is complete, which the run checks: the first
    ``CALIBRATION`` unlisted numbers are each sent alone. If the API refuses every one,
    the inventory is TRUSTED and unlisted numbers then fail together when the API
    refuses them as a group. If it accepts any (a number bought during the run, or a
    server that adopts numbers on sight), it is DOUBTED for the rest of the run and
    unlisted numbers are bisected like any refused batch.
    """

    UNTESTED = "untested"
    TRUSTED = "trusted"
    DOUBTED = "doubted"


CALIBRATION = 8


@dataclass(slots=True)
class OwnershipStats:
    refused_batches: int = 0
    bisect_requests: int = 0
    inventory_requests: int = 0
    inventory_checks: int = 0  # requests that checked the inventory's verdict
    unowned: int = 0
    verdict: Verdict = field(default_factory=lambda: Verdict.UNTESTED)


class Inventory:
    """The account's numbers and ids, as compact keys (see ``dedupe.number_key``)."""

    def __init__(self, on_listed: Callable[[list[int]], None] | None = None) -> None:
        self._keys: set[int] = set()
        self.ready = anyio.Event()
        self._on_listed = on_listed  # told the keys of each page as it comes in

    def __repr__(self) -> str:
        state = "ready" if self.ready.is_set() else "loading"
        return f"<Inventory {len(self._keys)} numbers, {state}>"

    def owns(self, value: str) -> bool:
        return number_key(value) in self._keys

    def add_page(self, items: Sequence[object]) -> None:
        keys: list[int] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            if item.get("status") in ("deleted", "ported-out"):
                continue
            number, number_id = item.get("phone_number"), item.get("id")
            if isinstance(number, str) and number.startswith("+") and number[1:].isdigit():
                keys.append(number_key(number))
            if isinstance(number_id, str) and number_id.isdigit():
                keys.append(number_key(number_id))
        self._keys.update(keys)
        if self._on_listed is not None:
            self._on_listed(keys)


class OwnershipResolver:
    """Chooses between bisection and the inventory, and runs the inventory's loading."""

    def __init__(
        self,
        client: ApiClient,
        mode: OwnershipMode = OwnershipMode.AUTO,
        *,
        total_batches: Callable[[], float] = lambda: 0.0,
        batch_size: int = 1000,
        room: WaitingRoom | None = None,
    ) -> None:
        self.client = client
        self.mode = mode
        self.stats = OwnershipStats()
        self.inventory: Inventory | None = None
        self.error: ErrorObject = OWNERSHIP_ERROR
        self._total_batches = total_batches
        self._batches_seen = 0
        self.unresolved = 0  # refused batches whose culprits are still being looked for
        self._first_page_lock = anyio.Lock()
        self._calibration_refusals = 0
        self._batch_size = batch_size
        self._first_page: Page | None = None
        self.listing_problem: str | None = None  # why the listing could not be read
        self.on_listing_failed: Callable[[str], None] | None = None
        self.room = room  # where unlisted numbers wait while the inventory loads

    def __repr__(self) -> str:
        return f"<OwnershipResolver {self.mode.value} {self.stats} {self.inventory!r}>"

    @property
    def screening(self) -> bool:
        """Whether batches are split by a loaded inventory before they are sent."""
        return self.inventory is not None and self.inventory.ready.is_set()

    @property
    def loading(self) -> bool:
        """Whether the inventory is being read: batches wait in the room meanwhile."""
        return self.inventory is not None and not self.inventory.ready.is_set()

    @property
    def verdict(self) -> Verdict:
        return self.stats.verdict

    def doubt(self) -> None:
        """The API contradicted the inventory: unlisted numbers get bisected from now on."""
        self.stats.verdict = Verdict.DOUBTED

    def calibrated(self, accepted: bool) -> None:
        """One unlisted number sent alone came back ``accepted`` (or refused)."""
        if self.stats.verdict is not Verdict.UNTESTED:
            return
        if accepted:
            self.doubt()
            return
        self._calibration_refusals += 1
        if self._calibration_refusals >= CALIBRATION:
            self.stats.verdict = Verdict.TRUSTED

    def seen_batch(self) -> None:
        self._batches_seen += 1

    def screen(self, values: Sequence[str], *, so_far: bool = False) -> tuple[list[str], list[str]]:
        """Split ``values`` into (owned, unowned) by the inventory; all owned without one.

        ``so_far``: by the pages read so far, while it loads ("unowned" then means only
        "not listed yet").
        """
        inventory = self.inventory
        if inventory is None or not (so_far or inventory.ready.is_set()):
            return list(values), []
        owned: list[str] = []
        unowned: list[str] = []
        for value in values:
            (owned if inventory.owns(value) else unowned).append(value)
        return owned, unowned

    def refused(self, errors: Sequence[ErrorObject]) -> None:
        """A batch was refused for ownership (not counting bisection's own requests).

        Call ``resolved`` once its culprits are found.
        """
        self.stats.refused_batches += 1
        self.unresolved += 1
        if errors:
            self.error = dict(errors[0])

    def resolved(self) -> None:
        self.unresolved -= 1

    @property
    def listing_unavailable(self) -> bool:
        """The account's listing was refused, missing or failing: bisect for the run."""
        return self.listing_problem is not None

    def _listing_failed(self, problem: BaseException) -> None:
        self.listing_problem = str(problem)
        self.inventory = None
        self._first_page = None
        if self.on_listing_failed is not None:
            self.on_listing_failed(self.listing_problem)

    async def _first_listing_page(self) -> Page | None:
        """The inventory's first page (read once); None when the listing is unavailable."""
        async with self._first_page_lock:
            if self._first_page is None and not self.listing_unavailable:
                try:
                    self._first_page = await self.client.list_phone_numbers(page_number=1)
                except (ApiError, TransportError) as problem:
                    self._listing_failed(problem)
                else:
                    self.stats.inventory_requests += 1
        return self._first_page

    async def consider_inventory(self) -> bool:
        """After a refusal: whether to load the inventory now (see the module docstring).

        In auto mode the first refusal is always bisected: it may be the only one. From
        the second on, the first page tells the account's size, so the cost of the rest
        of the inventory is known exactly. Bisecting costs at least 2·log2(n) requests
        for a batch of n with one culprit (more with more, as measured so far), for the
        refused batches waiting for a resolution now and for the share of the batches
        still to come that will be refused too.
        """
        if self.listing_unavailable:
            return False
        if self.inventory is not None or self.mode is OwnershipMode.BISECT:
            return self.inventory is not None
        if self.mode is OwnershipMode.INVENTORY:
            return True
        stats = self.stats
        if stats.refused_batches < 2 or self._batches_seen == 0:
            return False
        first = await self._first_listing_page()
        if first is None:
            return False
        refusal_share = stats.refused_batches / self._batches_seen
        floor = 2 * math.log2(max(2, self._batch_size))
        cost_each = max(floor, stats.bisect_requests / (stats.refused_batches - 1))
        to_come = max(0.0, self._total_batches() - self._batches_seen)
        to_bisect = self.unresolved + refusal_share * to_come
        return first.total_pages - 1 < cost_each * to_bisect

    async def load_inventory(self) -> bool:
        """Read every page of ``GET /phone_numbers`` (a few pages at a time).

        The listing is an optimisation: when it is refused (403), missing (404) or keeps
        failing, the run bisects instead, and this returns False.
        """
        if self.inventory is not None:
            await self.inventory.ready.wait()
            return self.screening
        if self.listing_unavailable:
            return False
        room = self.room
        inventory = self.inventory = Inventory(None if room is None else room.listed)
        try:
            first = await self._first_listing_page()
            if first is None:
                return False
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
        except* (ApiError, TransportError) as failures:
            self._listing_failed(first_known_error(failures) or TransportError(str(failures)))
        finally:
            inventory.ready.set()  # whoever waits for it learns the outcome either way
            if room is not None:
                room.release_all()  # to be screened by the inventory, or bisected
        return self.screening
