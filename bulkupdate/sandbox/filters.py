"""Number filters (``filter[...]`` in the query string): parsing and matching.

Both ``POST .../update_phone_numbers`` and ``GET /phone_numbers`` take deepObject filters,
with different sets of names. A name outside the endpoint's set, a value outside an enum, a
``filter[phone_number]`` with fewer than three digits or a connection-name pattern under three
characters is refused with 422 and ``source.parameter`` naming it. A filter is matched against
a number's current settings: a number a job has moved off a connection leaves its listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bulkupdate.sandbox.inventory import PAYMENT_METHODS, STATUSES, NumberRecord
from bulkupdate.sandbox.refusals import invalid_parameter

NUMBER_TYPES = ("local", "national", "toll_free", "mobile", "shared_cost")
NAME_OPS = ("eq", "contains", "starts_with", "ends_with")

COMMON = frozenset(
    {
        "tag",
        "connection_id",
        "phone_number",
        "status",
        "voice.connection_name",
        "voice.usage_payment_method",
        "billing_group_id",
        "emergency_address_id",
        "customer_reference",
    }
)
UPDATE_FILTERS = COMMON | {"has_bundle"}
LIST_FILTERS = COMMON | {"country_iso_alpha2", "number_type", "source", "without_tags"}


@dataclass(frozen=True, slots=True)
class NumberFilter:
    """Every given filter must hold (AND). ``None`` means "not filtered on"."""

    tag: str | None = None
    connection_id: str | None = None
    phone_digits: str | None = None
    phone_impossible: bool = False  # non-digits in filter[phone_number]: nothing matches
    status: str | None = None
    connection_name: tuple[tuple[str, str], ...] = ()
    usage_payment_method: str | None = None
    billing_group_id: str | None = None  # the string "null" means "none set"
    emergency_address_id: str | None = None
    customer_reference: str | None = None
    has_bundle: bool | None = None
    countries: frozenset[str] | None = None
    number_type: str | None = None
    source: str | None = None
    without_tags: bool | None = None  # True: only numbers without tags

    def matches(self, record: NumberRecord) -> bool:
        if self.phone_impossible or self.has_bundle is True or self.source == "ported":
            return False  # sandbox numbers are all purchased and none has a bundle
        checks = (
            self.tag is None or self.tag in record.tags,
            self.connection_id is None or record.connection_id == self.connection_id,
            self.phone_digits is None or self.phone_digits in record.phone_number,
            self.status is None or record.status == self.status,
            self.usage_payment_method is None
            or record.voice.get("usage_payment_method") == self.usage_payment_method,
            _nullable_eq(self.billing_group_id, record.billing_group_id),
            _nullable_eq(self.emergency_address_id, record.emergency_address_id),
            self.customer_reference is None or record.customer_reference == self.customer_reference,
            self.countries is None or record.country_iso_alpha2 in self.countries,
            self.number_type is None or record.phone_number_type == self.number_type,
            self.without_tags is None or not record.tags,
        )
        return all(checks) and all(
            _name_matches(op, value, record.connection_name) for op, value in self.connection_name
        )


def _nullable_eq(wanted: str | None, actual: str | None) -> bool:
    if wanted is None:
        return True
    return actual is None if wanted == "null" else actual == wanted


def _name_matches(op: str, value: str, name: str | None) -> bool:
    if name is None:
        return False
    if op == "eq":
        return name == value
    if op == "contains":
        return value in name
    if op == "starts_with":
        return name.startswith(value)
    return name.endswith(value)


def parse_filters(
    filters: Mapping[tuple[str, ...], list[str]], allowed: frozenset[str]
) -> NumberFilter:
    """Build a filter from ``{("tag",): ["x"], ("voice.connection_name", "eq"): ["y"]}``.

    Keys are the bracketed parts after ``filter``; values are every value given for the key.
    """
    found: dict[str, Any] = {}
    names: list[tuple[str, str]] = []
    countries: set[str] = set()
    for path, values in filters.items():
        parameter = "filter" + "".join(f"[{part}]" for part in path)
        name = path[0]
        if name not in allowed:
            raise invalid_parameter(
                f"The filter '{parameter}' is not supported.", parameter, title="Invalid filter"
            )
        if name == "country_iso_alpha2" and path in (("country_iso_alpha2",), (name, "")):
            countries.update(code for value in values for code in value.split(",") if code)
            continue
        if len(values) > 1:
            raise invalid_parameter(f"'{parameter}' is given more than once.", parameter)
        value = values[0]
        if name == "voice.connection_name":
            names.append(_name_filter(path, value, parameter))
            continue
        if name == "number_type":
            if path != ("number_type", "eq"):
                raise _unsupported(parameter)
            found["number_type"] = _enum(value, NUMBER_TYPES, parameter)
            continue
        if len(path) != 1:
            raise _unsupported(parameter)
        found.update(_scalar_filter(name, value, parameter))
    return NumberFilter(
        connection_name=tuple(names),
        countries=frozenset(countries) if countries else None,
        **found,
    )


def _scalar_filter(name: str, value: str, parameter: str) -> dict[str, Any]:
    if name == "phone_number":
        digits = value.removeprefix("+")
        if sum(ch.isdigit() for ch in digits) < 3:
            raise invalid_parameter(
                "filter[phone_number] requires at least three digits.",
                parameter,
                title="Invalid filter",
            )
        if not digits.isdigit():
            return {"phone_impossible": True}
        return {"phone_digits": digits}
    if name == "status":
        return {"status": _enum(value, STATUSES, parameter)}
    if name == "voice.usage_payment_method":
        return {"usage_payment_method": _enum(value, PAYMENT_METHODS, parameter)}
    if name == "has_bundle":
        return {"has_bundle": _enum(value, ("true", "false"), parameter) == "true"}
    if name == "without_tags":
        # The spec: "When set to 'true', filters for phone numbers that do not have any
        # tags applied. All other values are ignored."
        wanted = _enum(value, ("true", "false"), parameter) == "true"
        return {"without_tags": True if wanted else None}
    if name == "source":
        return {"source": _enum(value, ("ported", "purchased"), parameter)}
    return {name: value}


def _name_filter(path: tuple[str, ...], value: str, parameter: str) -> tuple[str, str]:
    if len(path) != 2 or path[1] not in NAME_OPS:
        raise _unsupported(parameter)
    if path[1] != "eq" and len(value) < 3:
        raise invalid_parameter(
            f"{parameter} requires at least three characters.", parameter, title="Invalid filter"
        )
    return path[1], value


def _enum(value: str, choices: tuple[str, ...], parameter: str) -> str:
    if value not in choices:
        raise invalid_parameter(
            f"The value of '{parameter}' must be one of: {', '.join(choices)}.",
            parameter,
            title="Invalid filter",
        )
    return value


def _unsupported(parameter: str) -> Exception:
    return invalid_parameter(
        f"The filter '{parameter}' is not supported.", parameter, title="Invalid filter"
    )
