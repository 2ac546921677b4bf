"""What an update request may hold, described once, as data, and the checks it drives.

Two tables drive everything in :mod:`bulkupdate.request.spec`: validation, ``--set`` / ``--filter``
parsing, suggestions for misspelt names and the order fields are encoded in.

* ``UPDATE_FIELDS``: every updatable body field, by dotted path
  (``voice.call_forwarding.forwards_to``), as in ``PhoneNumbersJobUpdatePhoneNumbersRequest`` of
  Telnyx's OpenAPI spec.
* ``FILTERS``: every ``filter[...]`` query parameter of the same endpoint, by flat dotted name
  (``voice.connection_name.contains``), each with the deepObject key it is sent under.
* ``LISTING_FILTERS``: the filters of ``GET /phone_numbers``, which chooses the account's
  numbers for ``--from-account``: most of the same, and a few of its own.
* ``REQUIREMENTS``: the few rules that tie one field to another.

Enum spellings follow the OpenAPI spec (``on-failure``, ``purchase-pending``); the reference page's
underscore spellings are accepted because choices match regardless of case and of ``-`` vs ``_``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bulkupdate.request.schema_types import Field, Requirement, Rule, Schema, ValueType

_S, _B, _L, _C = ValueType.STRING, ValueType.BOOLEAN, ValueType.STRING_LIST, ValueType.CHOICE
_CF, _CN, _MF, _CR = (
    "voice.call_forwarding.",
    "voice.cnam_listing.",
    "voice.media_features.",
    "voice.call_recording.",
)
_PAYMENT = ("pay-per-minute", "channel")

E164_OR_BLANK = Rule(
    r"(\+[1-9]\d{1,14})?",
    # Blank is allowed: the spec says inbound calls are not forwarded when it is left blank.
    "{label} must be a +E.164 number such as +13035559123 (or empty to stop forwarding), "
    "got {value!r}",
)

UPDATE_FIELDS: tuple[Field, ...] = (
    Field("tags", _L),
    Field("external_pin", _S),
    Field("customer_reference", _S),
    Field("connection_id", _S),
    Field("billing_group_id", _S),
    Field("hd_voice_enabled", _B),
    Field("deletion_lock_enabled", _B),
    Field("voice.tech_prefix_enabled", _B),
    Field("voice.translated_number", _S),
    Field("voice.caller_id_name_enabled", _B),
    Field(_CF + "call_forwarding_enabled", _B),
    Field(_CF + "forwards_to", _S, rules=(E164_OR_BLANK,)),
    Field(_CF + "forwarding_type", _C, choices=("always", "on-failure")),
    Field(_CN + "cnam_listing_enabled", _B),
    Field(
        _CN + "cnam_listing_details",
        _S,
        rules=(
            Rule(r".{0,15}", "{label} must be at most 15 characters, got {length}: {value!r}"),
            Rule(
                r"[A-Za-z0-9 ]*", "{label} may hold only letters, digits and spaces, got {value!r}"
            ),
        ),
    ),
    Field("voice.usage_payment_method", _C, choices=_PAYMENT),
    Field(_MF + "rtp_auto_adjust_enabled", _B),
    Field(_MF + "accept_any_rtp_packets_enabled", _B),
    Field(_MF + "t38_fax_gateway_enabled", _B),
    Field(_CR + "inbound_call_recording_enabled", _B),
    Field(_CR + "inbound_call_recording_format", _C, choices=("wav", "mp3")),
    Field(_CR + "inbound_call_recording_channels", _C, choices=("single", "dual")),
    Field("voice.inbound_call_screening", _C, choices=("disabled", "reject_calls", "flag_calls")),
)

REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(_CN + "cnam_listing_details", _CN + "cnam_listing_enabled", True),
    Requirement(
        _CF + "forwarding_type",
        _CF + "forwards_to",
        why=" (a +E.164 number): the type has no effect without it",
    ),
)

_NOT_EMPTY = (Rule(r".+", "{label} must not be empty"),)
_AT_LEAST_3 = (Rule(r".{3,}", "{label} needs at least 3 characters, got {value!r}"),)


def _filter(name: str, kind: ValueType = _S, key: str = "", **options: Any) -> Field:
    options.setdefault("rules", _NOT_EMPTY if kind is _S else ())
    return Field(name, kind, query_key=key or f"filter[{name}]", **options)


def _connection_name(operator: str, rules: tuple[Rule, ...]) -> Field:
    # `voice.connection_name` is one deepObject key with the dot inside it; the operator nests.
    key = f"filter[voice.connection_name][{operator}]"
    return _filter(f"voice.connection_name.{operator}", key=key, rules=rules)


FILTERS: tuple[Field, ...] = (
    # The spec types has_bundle as a free string; only true/false make sense for it.
    _filter("has_bundle", _C, choices=("true", "false")),
    _filter("tag"),
    _filter("connection_id"),
    _filter(
        "phone_number",
        rules=(
            Rule(r"(\D*\d){3}.*", "{label} needs at least 3 digits, got {value!r}"),
            # The spec: "Non-numerical characters will result in no values being returned".
            Rule(r"\d*", "{label} must be digits only (no '+', spaces or dashes), got {value!r}"),
        ),
    ),
    _filter(
        "status",
        _C,
        choices=(
            "purchase-pending",
            "purchase-failed",
            "port-pending",
            "active",
            "deleted",
            "port-failed",
            "emergency-only",
            "ported-out",
            "port-out-pending",
        ),
    ),
    _connection_name("eq", _NOT_EMPTY),
    _connection_name("contains", _AT_LEAST_3),
    _connection_name("starts_with", _AT_LEAST_3),
    _connection_name("ends_with", _AT_LEAST_3),
    _filter("voice.usage_payment_method", _C, choices=_PAYMENT),
    _filter("billing_group_id", nullable=True),
    _filter("emergency_address_id", nullable=True),
    _filter("customer_reference"),
)

# GET /phone_numbers takes the update's filters but has_bundle, and four of its own.
LISTING_FILTERS: tuple[Field, ...] = (
    *(f for f in FILTERS if f.path != "has_bundle"),
    _filter(
        "country_iso_alpha2",
        rules=(
            Rule(
                r"[A-Z]{2}(,[A-Z]{2})*",
                "{label} must be ISO 3166-1 alpha-2 codes such as US or US,CA, got {value!r}",
            ),
        ),
    ),
    _filter(
        "number_type.eq",
        _C,
        key="filter[number_type][eq]",
        choices=("local", "national", "toll_free", "mobile", "shared_cost"),
    ),
    _filter("source", _C, choices=("ported", "purchased")),
    # The spec: "When set to 'true', filters for phone numbers that do not have any tags
    # applied. All other values are ignored."
    _filter("without_tags", _C, choices=("true", "false")),
)

UPDATE_SCHEMA = Schema(
    "field",
    UPDATE_FIELDS,
    hints={
        "phone_numbers": "the numbers come from the input and are batched by bulkupdate",
        "filter": "filters go in a top-level filter table of the spec file, --filter, "
        "or the filters argument",
        "emergency_enabled": "emergency settings are their own job (EmergencySettingsRequest)",
        "emergency_address_id": "emergency settings are their own job (EmergencySettingsRequest)",
    },
)
FILTER_SCHEMA = Schema("filter", FILTERS)
LISTING_FILTER_SCHEMA = Schema(
    "filter",
    LISTING_FILTERS,
    hints={
        "has_bundle": "GET /phone_numbers, which chooses the account's numbers, does not take it"
    },
)

NOTHING_TO_UPDATE = (
    "nothing to update: set at least one field, e.g. --set hd_voice_enabled=true; "
    "top-level fields are: " + ", ".join(UPDATE_SCHEMA.groups[""])
)


def check_fields(fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The fields nested like the API body, in schema order, and every problem found."""
    if not isinstance(fields, Mapping):
        return {}, [f"fields must be a mapping of field names to values, got {type(fields)}"]
    problems: list[str] = []
    leaves: dict[str, Any] = {}
    invalid: set[str] = set()
    seen_any = False
    for path, value in UPDATE_SCHEMA.flatten(fields):
        seen_any = True
        known = UPDATE_SCHEMA.by_path.get(path)
        if known is None:
            problems.append(UPDATE_SCHEMA.problem(path))
            continue
        leaves[path], found = known.check(path, value)
        if found:
            problems += found
            invalid.add(path)
    for rule in REQUIREMENTS:
        if rule.needs not in invalid and (problem := rule.problem(leaves)) is not None:
            problems.append(problem)
    if not seen_any:
        problems.append(NOTHING_TO_UPDATE)
    tree: dict[str, Any] = {}
    for known in UPDATE_FIELDS:  # schema order: the same spec always encodes to the same bytes
        if known.path in leaves:
            *parents, name = known.path.split(".")
            node = tree
            for parent in parents:
                node = node.setdefault(parent, {})
            node[name] = leaves[known.path]
    return tree, problems


def check_filters(
    items: Iterable[tuple[str, Any]], schema: Schema = FILTER_SCHEMA
) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The filters as (name, text) pairs in schema order, and every problem found."""
    problems: list[str] = []
    chosen: dict[str, str] = {}
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            problems.append(f"filters must be (name, value) pairs, got {item!r}")
            continue
        name, value = str(item[0]), item[1]
        known = schema.by_path.get(name)
        if known is None:
            problems.append(schema.problem(name))
            continue
        label = schema.label(name)
        # Query values are text: accept what a TOML or JSON file would naturally hold.
        if value is None and known.nullable:
            value = "null"  # the API's spelling of "none set"
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int):
            value = str(value)
        text, found = known.check(label, value)
        if found:
            problems += found
        elif name in chosen and chosen[name] != text:
            problems.append(
                f"{label} is given twice ({chosen[name]!r} and {text!r}); "
                "the API takes one value per filter"
            )
        else:
            chosen[name] = text
    return tuple((f.path, chosen[f.path]) for f in schema.fields if f.path in chosen), problems
