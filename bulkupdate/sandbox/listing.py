"""The ordered selections ``GET /phone_numbers`` pages through, kept from page to page.

Each page of a filtered listing is cut from every matching number in the query's order, as
the numbers are *now*: a number a job moved off a connection has left the listing of that
connection. Working that out afresh for every page would filter and sort the whole account
each time (a client reading a 100,000-number selection 250 at a time would have the
sandbox do it 400 times). Instead the last few selections are kept and brought up to date
from the inventory's log of changed numbers: a changed number that no longer matches is
dropped, one that now matches is put in its place. A number joining or leaving the account,
or a change under an order that follows a setting (connection name, payment method),
starts the selection over.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bulkupdate.sandbox.filters import NumberFilter
from bulkupdate.sandbox.inventory import Inventory, NumberRecord
from bulkupdate.sandbox.queries import NumberSort

KEPT = 4  # selections kept at once: a client reads one or two at a time

# Orders by what a job cannot change; the others start over when anything changes.
_FIXED_ORDER: dict[NumberSort, Callable[[NumberRecord], Any]] = {
    NumberSort.CREATED_AT: lambda r: (-r.created_at, r.seq),  # the default: newest first
    NumberSort.PURCHASED_AT: lambda r: (r.created_at, r.seq),
    NumberSort.PHONE_NUMBER: lambda r: r.phone_number,
}


@dataclass(slots=True)
class _Selection:
    records: list[NumberRecord]
    ids: set[str]
    membership: int  # the inventory's membership count it was made at
    seen: int  # the position in the inventory's change log it is up to date with


class Listings:
    """The numbers each recent (filter, order) selects, in order, as of the last change."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._kept: dict[tuple[NumberFilter, NumberSort], _Selection] = {}

    def __repr__(self) -> str:
        return f"<Listings kept={len(self._kept)} log={len(self._inventory.changes)}>"

    def ordered(self, number_filter: NumberFilter, sort: NumberSort) -> list[NumberRecord]:
        """Every number ``number_filter`` matches now, in ``sort``'s order.

        Deleted numbers only when the filter asks for status ``deleted``.
        """
        inventory = self._inventory
        key = (number_filter, sort)
        kept = self._kept.pop(key, None)  # put back last: the most recent is kept longest
        if kept is None or kept.membership != inventory.membership:
            kept = self._select(number_filter, sort)
        elif kept.seen != inventory.log_end:
            if sort in _FIXED_ORDER:
                self._catch_up(kept, number_filter, sort)
            else:
                kept = self._select(number_filter, sort)
        self._kept[key] = kept
        while len(self._kept) > KEPT:
            del self._kept[next(iter(self._kept))]
        inventory.watched = True
        inventory.forget_changes_before(min(s.seen for s in self._kept.values()))
        return kept.records

    def _select(self, number_filter: NumberFilter, sort: NumberSort) -> _Selection:
        inventory = self._inventory
        deleted = number_filter.status == "deleted"
        records = in_order(inventory.select(number_filter.matches, include_deleted=deleted), sort)
        return _Selection(records, {r.id for r in records}, inventory.membership, inventory.log_end)

    def _catch_up(self, kept: _Selection, number_filter: NumberFilter, sort: NumberSort) -> None:
        """Apply the logged changes: drop numbers that left, place numbers that joined."""
        inventory = self._inventory
        deleted = number_filter.status == "deleted"
        changed = {r.id: r for r in inventory.changes_since(kept.seen)}
        kept.seen = inventory.log_end
        left: set[str] = set()
        joined: list[NumberRecord] = []
        for number_id, record in changed.items():
            now = (deleted or record.owned) and number_filter.matches(record)
            if number_id in kept.ids and not now:
                left.add(number_id)
            elif now and number_id not in kept.ids:
                joined.append(record)
        if left:
            kept.records = [r for r in kept.records if r.id not in left]
            kept.ids -= left
        order = _FIXED_ORDER[sort]
        for record in joined:
            bisect.insort(kept.records, record, key=order)
            kept.ids.add(record.id)


def in_order(records: list[NumberRecord], sort: NumberSort) -> list[NumberRecord]:
    """``records`` in the order ``sort`` names."""
    fixed = _FIXED_ORDER.get(sort)
    if fixed is not None:
        return sorted(records, key=fixed)
    if sort is NumberSort.CONNECTION_NAME:
        return sorted(records, key=lambda r: (r.connection_name is None, r.connection_name or ""))
    return sorted(records, key=lambda r: (r.voice["usage_payment_method"], r.seq))
