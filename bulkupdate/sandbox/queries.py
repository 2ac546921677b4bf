"""Query strings: deepObject keys, pagination, sorting and each endpoint's allowed parameters.

Anything an endpoint does not define is refused (422, ``source.parameter``), so a misspelt
``page[sise]`` fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bulkupdate.sandbox.filters import LIST_FILTERS, UPDATE_FILTERS, NumberFilter, parse_filters
from bulkupdate.sandbox.jobs import JobType
from bulkupdate.sandbox.refusals import bad_page, bad_sort, invalid_parameter

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 250

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)((?:\[[^\[\]]*\])*)")
_PART = re.compile(r"\[([^\[\]]*)\]")

Pairs = Iterable[tuple[str, str]]


class NumberSort(enum.StrEnum):
    CREATED_AT = "created_at"  # the default, newest first; not accepted as a value
    PURCHASED_AT = "purchased_at"
    PHONE_NUMBER = "phone_number"
    CONNECTION_NAME = "connection_name"
    USAGE_PAYMENT_METHOD = "usage_payment_method"


@dataclass(frozen=True, slots=True)
class Page:
    number: int = 1
    size: int = DEFAULT_PAGE_SIZE

    def slice(self) -> slice:
        start = (self.number - 1) * self.size
        return slice(start, start + self.size)

    def meta(self, total: int) -> dict[str, int]:
        return {
            "page_number": self.number,
            "page_size": self.size,
            "total_pages": math.ceil(total / self.size),
            "total_results": total,
        }


@dataclass(frozen=True, slots=True)
class JobsQuery:
    page: Page
    type: JobType | None


@dataclass(frozen=True, slots=True)
class NumbersQuery:
    page: Page
    filter: NumberFilter
    sort: NumberSort


def parse_update_query(pairs: Pairs) -> NumberFilter | None:
    """Filters of ``POST .../update_phone_numbers``; None when no filter was given."""
    groups = _group(pairs)
    filters = _take_filters(groups)
    _refuse_rest(groups)
    return parse_filters(filters, UPDATE_FILTERS) if filters else None


def parse_jobs_query(pairs: Pairs) -> JobsQuery:
    """``GET /phone_numbers/jobs``: ``filter[type]``, ``page[...]``, ``sort=created_at``."""
    groups = _group(pairs)
    page = _take_page(groups)
    sort = _take_single(groups, ("sort",))
    if sort is not None and sort != "created_at":
        raise bad_sort()
    job_type = None
    filters = _take_filters(groups)
    for path, values in filters.items():
        parameter = "filter" + "".join(f"[{part}]" for part in path)
        if path != ("type",):
            raise invalid_parameter(
                f"The filter '{parameter}' is not supported.", parameter, title="Invalid filter"
            )
        if len(values) > 1 or values[0] not in set(JobType):
            raise invalid_parameter(
                f"The value of '{parameter}' must be one of: {', '.join(JobType)}.",
                parameter,
                title="Invalid filter",
            )
        job_type = JobType(values[0])
    _refuse_rest(groups)
    return JobsQuery(page=page, type=job_type)


def parse_numbers_query(pairs: Pairs) -> NumbersQuery:
    """``GET /phone_numbers``: filters, ``page[...]``, ``sort`` and the messaging switch."""
    groups = _group(pairs)
    page = _take_page(groups)
    sort = _take_single(groups, ("sort",))
    if sort is not None and (sort == "created_at" or sort not in set(NumberSort)):
        raise bad_sort()
    switch = _take_single(groups, ("handle_messaging_profile_error",))
    if switch is not None and switch not in ("true", "false"):
        raise invalid_parameter(
            "The value of 'handle_messaging_profile_error' must be one of: true, false.",
            "handle_messaging_profile_error",
        )
    number_filter = parse_filters(_take_filters(groups), LIST_FILTERS)
    _refuse_rest(groups)
    return NumbersQuery(
        page=page, filter=number_filter, sort=NumberSort(sort or NumberSort.CREATED_AT)
    )


def parse_no_query(pairs: Pairs) -> None:
    """Endpoints without query parameters refuse any."""
    _refuse_rest(_group(pairs))


def _group(pairs: Pairs) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, value in pairs:
        match = _KEY.fullmatch(key)
        if match is None:
            raise invalid_parameter(f"The query parameter '{key}' is malformed.", key)
        path = (match[1], *_PART.findall(match[2]))
        groups.setdefault(path, []).append(value)
    return groups


def _take_filters(groups: dict[tuple[str, ...], list[str]]) -> dict[tuple[str, ...], list[str]]:
    filters = {path[1:]: values for path, values in groups.items() if path[0] == "filter"}
    for path in [path for path in groups if path[0] == "filter"]:
        if len(path) == 1:
            raise invalid_parameter("'filter' must be an object.", "filter")
        del groups[path]
    return filters


def _take_single(groups: dict[tuple[str, ...], list[str]], path: tuple[str, ...]) -> str | None:
    values = groups.pop(path, None)
    if values is None:
        return None
    if len(values) > 1:
        parameter = _name(path)
        raise invalid_parameter(f"'{parameter}' is given more than once.", parameter)
    return values[0]


def _take_page(groups: dict[tuple[str, ...], list[str]]) -> Page:
    number = _take_single(groups, ("page", "number"))
    size = _take_single(groups, ("page", "size"))
    if number is not None and not (number.isdigit() and int(number) >= 1):
        raise bad_page("number")
    if size is not None and not (size.isdigit() and 1 <= int(size) <= MAX_PAGE_SIZE):
        raise bad_page("size")
    return Page(number=int(number) if number else 1, size=int(size) if size else DEFAULT_PAGE_SIZE)


def _refuse_rest(groups: dict[tuple[str, ...], list[str]]) -> None:
    for path in groups:
        parameter = _name(path)
        raise invalid_parameter(f"The query parameter '{parameter}' is not supported.", parameter)


def _name(path: tuple[str, ...]) -> str:
    return path[0] + "".join(f"[{part}]" for part in path[1:])
