"""Which of the account's own numbers a run updates: ``AccountNumbers``, chosen by filters.

The numbers come from ``GET /phone_numbers`` with the filters that listing takes (see
``schema.LISTING_FILTERS``); ``input/listing_sweep.py`` reads them exactly,
``runs/account_input.py`` feeds them to the engine. At least one filter is required, so that
no typo selects a whole account: ``status=active`` is how to ask for every active number.

The update is sent with the same filters in its query where the job endpoint takes them
(all but ``country_iso_alpha2``, ``number_type``, ``source`` and ``without_tags``): a number
somebody else changes so that it no longer matches, between its listing and its job, is
left alone by the job and reported ``skipped``. The delete and emergency-settings
endpoints take no filters at all.

>>> selection = AccountNumbers({"connection_id": "1293384261075731499", "country_iso_alpha2": "US"})
>>> selection.update_filters()
(('connection_id', '1293384261075731499'),)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bulkupdate.errors import SpecError
from bulkupdate.request.schema import FILTER_SCHEMA, LISTING_FILTER_SCHEMA, check_filters

NO_FILTER = (
    "--from-account needs at least one --filter NAME=VALUE, so that no typo selects the "
    "whole account (--filter status=active selects every active number); the listing takes: "
    + ", ".join(LISTING_FILTER_SCHEMA.by_path)
)
# A plain value for these means their `eq`: `number_type=local`, `voice.connection_name=x`.
_EQ_GROUPS = ("number_type", "voice.connection_name")


@dataclass(frozen=True, slots=True)
class AccountNumbers:
    """The account's numbers that match every filter, as ``GET /phone_numbers`` lists them.

    ``filters`` maps listing filter names (dotted, as ``--filter`` takes them, or nested)
    to values. Building one checks them; ``SpecError`` names every problem.

    >>> AccountNumbers({"status": "active"}).listing_params()
    [('filter[status]', 'active')]
    """

    filters: tuple[tuple[str, str], ...]

    def __init__(self, filters: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        if isinstance(filters, Mapping):
            items = list(LISTING_FILTER_SCHEMA.flatten(filters))
        elif isinstance(filters, str | bytes):
            raise SpecError(["filters must be a mapping of filter names to values"])
        else:
            items = list(filters)
        named = [_eq(item) for item in items]
        pairs, problems = check_filters(named, LISTING_FILTER_SCHEMA)
        if not items:
            problems.append(NO_FILTER)
        if problems:
            raise SpecError(problems)
        object.__setattr__(self, "filters", pairs)

    def listing_params(self) -> list[tuple[str, str]]:
        """The filters as ``GET /phone_numbers`` query pairs."""
        by_path = LISTING_FILTER_SCHEMA.by_path
        return [(by_path[name].query_key, value) for name, value in self.filters]

    def update_filters(self) -> tuple[tuple[str, str], ...]:
        """The filters the update endpoint also takes: its query, so that a number that no
        longer matches when its job runs is left alone (and reported skipped)."""
        return tuple((name, value) for name, value in self.filters if name in FILTER_SCHEMA.by_path)

    def describe(self) -> dict[str, str]:
        return dict(self.filters)


def _eq(item: Any) -> Any:
    if isinstance(item, tuple | list) and len(item) == 2 and item[0] in _EQ_GROUPS:
        return (f"{item[0]}.eq", item[1])
    return item
