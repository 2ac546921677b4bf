"""Request bodies of the three job POSTs, read strictly: types, enums, unknown fields, rules.

The sandbox's own reading of the contract (the OpenAPI excerpt), independent of the client's
encoder: a field the spec does not know, a wrong type or a value outside an enum is refused
with code 10015 and a JSON pointer to the field, so a client's encoding bug surfaces here
rather than in production. The first problem found is reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

from bulkupdate.sandbox import refusals
from bulkupdate.sandbox.phone import EntryKind, classify, is_e164_syntax
from bulkupdate.sandbox.refusals import invalid_body

MAX_NUMBERS = 1000

Check: TypeAlias = Callable[[Any, str], None]
Schema: TypeAlias = Mapping[str, "Check | Schema"]


def _boolean(value: Any, pointer: str) -> None:
    if not isinstance(value, bool):
        raise invalid_body("The field must be a boolean.", pointer)


def _string(value: Any, pointer: str) -> None:
    if not isinstance(value, str):
        raise invalid_body("The field must be a string.", pointer)


def _strings(value: Any, pointer: str) -> None:
    if not isinstance(value, list):
        raise invalid_body("The field must be an array of strings.", pointer)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid_body("The field must be a string.", f"{pointer}/{index}")


def _one_of(*choices: str) -> Check:
    def check(value: Any, pointer: str) -> None:
        if value not in choices:
            raise invalid_body(f"The field must be one of: {', '.join(choices)}.", pointer)

    return check


def _forward_target(value: Any, pointer: str) -> None:
    _string(value, pointer)
    # Blank is allowed: the spec says calls are not forwarded when it is left blank.
    if value and not is_e164_syntax(value):
        raise invalid_body("The field must be a +E.164-formatted phone number.", pointer)


_CNAM = re.compile(r"[A-Za-z0-9 ]{1,15}")


def _cnam_details(value: Any, pointer: str) -> None:
    _string(value, pointer)
    if not _CNAM.fullmatch(value):
        raise invalid_body(
            "Must be alphanumeric characters or spaces with a maximum length of 15.", pointer
        )


VOICE: Schema = {
    "tech_prefix_enabled": _boolean,
    "translated_number": _string,
    "caller_id_name_enabled": _boolean,
    "call_forwarding": {
        "call_forwarding_enabled": _boolean,
        "forwards_to": _forward_target,
        "forwarding_type": _one_of("always", "on-failure"),
    },
    "cnam_listing": {
        "cnam_listing_enabled": _boolean,
        "cnam_listing_details": _cnam_details,
    },
    "usage_payment_method": _one_of("pay-per-minute", "channel"),
    "media_features": {
        "rtp_auto_adjust_enabled": _boolean,
        "accept_any_rtp_packets_enabled": _boolean,
        "t38_fax_gateway_enabled": _boolean,
    },
    "call_recording": {
        "inbound_call_recording_enabled": _boolean,
        "inbound_call_recording_format": _one_of("wav", "mp3"),
        "inbound_call_recording_channels": _one_of("single", "dual"),
    },
    "inbound_call_screening": _one_of("disabled", "reject_calls", "flag_calls"),
}

UPDATABLE: Schema = {
    "tags": _strings,
    "external_pin": _string,
    "customer_reference": _string,
    "connection_id": _string,
    "billing_group_id": _string,
    "hd_voice_enabled": _boolean,
    "deletion_lock_enabled": _boolean,
    "voice": VOICE,
}


@dataclass(frozen=True, slots=True)
class NumberList:
    """The ``phone_numbers`` of a request: unique entries in the order given, all one kind."""

    entries: tuple[str, ...]
    kind: EntryKind | None  # None when the list is empty

    def echo(self) -> list[dict[str, str]]:
        """The job's ``phone_numbers``: each entry as it was sent."""
        key = "id" if self.kind is EntryKind.ID else "phone_number"
        return [{key: entry} for entry in self.entries]


@dataclass(frozen=True, slots=True)
class UpdateBody:
    numbers: NumberList
    fields: Mapping[str, Any]  # top-level settings other than voice; each replaces
    voice: Mapping[str, Any]  # merged into the stored voice settings, field by field
    pointer: str  # where the in-job error of an invalid number points


@dataclass(frozen=True, slots=True)
class DeleteBody:
    numbers: NumberList


@dataclass(frozen=True, slots=True)
class EmergencyBody:
    numbers: NumberList
    enabled: bool
    address_id: str | None

    @property
    def pointer(self) -> str:
        return "/emergency_address_id" if self.enabled else "/emergency_enabled"


def parse_update(raw: bytes, *, has_filters: bool) -> UpdateBody:
    """Read an update body.

    With filters in the query, ``phone_numbers`` may be empty (update every owned number
    that matches); it must still be present, because the spec lists it as required and the
    official SDK always sends it.
    """
    body = _load_object(raw)
    numbers = _numbers(body, allow_empty=has_filters)
    rest = {key: value for key, value in body.items() if key != "phone_numbers"}
    if _check_object(rest, UPDATABLE, "") == 0:
        raise invalid_body(refusals.NO_UPDATABLE_FIELD, "/updateable_fields")
    voice = rest.get("voice", {})
    _check_cnam(voice.get("cnam_listing", {}))
    fields = {key: value for key, value in rest.items() if key != "voice"}
    return UpdateBody(numbers=numbers, fields=fields, voice=voice, pointer=_pointer_for(rest))


def parse_delete(raw: bytes) -> DeleteBody:
    body = _load_object(raw)
    numbers = _numbers(body, allow_empty=False)
    _check_object({k: v for k, v in body.items() if k != "phone_numbers"}, {}, "")
    return DeleteBody(numbers=numbers)


def parse_emergency(raw: bytes) -> EmergencyBody:
    body = _load_object(raw)
    numbers = _numbers(body, allow_empty=False)
    schema: Schema = {"emergency_enabled": _boolean, "emergency_address_id": _nullable_string}
    _check_object({k: v for k, v in body.items() if k != "phone_numbers"}, schema, "")
    if "emergency_enabled" not in body:
        raise invalid_body(refusals.MUST_BE_PRESENT, "/emergency_enabled")
    enabled: bool = body["emergency_enabled"]
    address = body.get("emergency_address_id")
    if enabled and not address:
        raise invalid_body("Required if emergency_enabled is true.", "/emergency_address_id")
    if not enabled and address is not None:
        raise invalid_body(
            "Must be null or omitted if emergency_enabled is false.", "/emergency_address_id"
        )
    return EmergencyBody(numbers=numbers, enabled=enabled, address_id=address)


def _nullable_string(value: Any, pointer: str) -> None:
    if value is not None:
        _string(value, pointer)


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_body("The request body is not valid JSON.", "/", status=400) from None
    if not isinstance(body, dict):
        raise invalid_body("The request body must be a JSON object.", "/")
    return body


def _numbers(body: Mapping[str, Any], *, allow_empty: bool) -> NumberList:
    if "phone_numbers" not in body:
        raise invalid_body(refusals.MUST_BE_PRESENT, "/phone_numbers")
    value = body["phone_numbers"]
    if not isinstance(value, list):
        raise invalid_body("The field must be an array of strings.", "/phone_numbers")
    if len(value) > MAX_NUMBERS:
        raise invalid_body(refusals.TOO_MANY_NUMBERS, "/phone_numbers")
    if not value and not allow_empty:
        raise invalid_body(refusals.TOO_FEW_NUMBERS, "/phone_numbers")
    kinds = set()
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise invalid_body("The field must be a string.", f"/phone_numbers/{index}")
        kind = classify(entry)
        if kind is EntryKind.INVALID:
            raise invalid_body(
                "Each item must be either a phone number ID or a phone number in E164 format.",
                f"/phone_numbers/{index}",
            )
        kinds.add(kind)
    if len(kinds) > 1:
        raise invalid_body(refusals.MIXED_NUMBERS, "/phone_numbers")
    unique = tuple(dict.fromkeys(value))
    return NumberList(entries=unique, kind=kinds.pop() if kinds else None)


def _check_object(value: Any, schema: Schema, pointer: str) -> int:
    """Check ``value`` against ``schema``; return how many leaf fields it sets."""
    if not isinstance(value, dict):
        raise invalid_body("The field must be an object.", pointer or "/")
    leaves = 0
    for key, item in value.items():
        where = f"{pointer}/{_escape(key)}"
        rule = schema.get(key)
        if rule is None:
            raise invalid_body(f"Unknown field '{key}'.", where)
        if isinstance(rule, Mapping):
            leaves += _check_object(item, rule, where)
        else:
            rule(item, where)
            leaves += 1
    return leaves


def _check_cnam(cnam: Mapping[str, Any]) -> None:
    if "cnam_listing_details" in cnam and cnam.get("cnam_listing_enabled") is not True:
        raise invalid_body(
            "cnam_listing_enabled must be true when cnam_listing_details is set.",
            "/voice/cnam_listing/cnam_listing_enabled",
        )


def _pointer_for(fields: Mapping[str, Any]) -> str:
    """The field an invalid number's in-job error names: forwarding first, else the first."""
    forwarding = fields.get("voice", {}).get("call_forwarding", {})
    if "forwards_to" in forwarding:
        return "/voice/call_forwarding/forwards_to"
    return next(_leaves(fields, ""), "/phone_numbers")


def _leaves(value: Mapping[str, Any], pointer: str) -> Iterator[str]:
    for key, item in value.items():
        where = f"{pointer}/{_escape(key)}"
        if isinstance(item, dict):
            yield from _leaves(item, where)
        else:
            yield where


def _escape(key: str) -> str:
    # RFC 6901: "~" and "/" inside a key are written "~0" and "~1".
    return key.replace("~", "~0").replace("/", "~1")
