"""Reading job bodies: every refusal names the field, with the spec's wording where it has one."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bulkupdate.sandbox import refusals
from bulkupdate.sandbox.bodies import parse_delete, parse_emergency, parse_update
from bulkupdate.sandbox.phone import EntryKind
from bulkupdate.sandbox.refusals import ApiRefusal

N1, N2 = "+13125550100", "+13125550101"


def refusal_of(parse: Any, body: Any, **kwargs: Any) -> ApiRefusal:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(ApiRefusal) as caught:
        parse(raw, **kwargs)
    return caught.value


def one(**fields: Any) -> dict[str, Any]:
    """An update of N1 with these fields."""
    return {"phone_numbers": [N1], **fields}


def voice(**settings: Any) -> dict[str, Any]:
    return one(voice=settings)


MUST_BE_STRING = "The field must be a string."
MUST_BE_BOOLEAN = "The field must be a boolean."
STRINGS = "The field must be an array of strings."
NOT_E164 = "The field must be a +E.164-formatted phone number."
CNAM_TEXT = "Must be alphanumeric characters or spaces with a maximum length of 15."
CNAM_NEEDS_ENABLED = "cnam_listing_enabled must be true when cnam_listing_details is set."
CNAM = "/voice/cnam_listing/"
FORWARDING = "/voice/call_forwarding/"
RECORDING = "/voice/call_recording/"

UPDATE_REFUSALS = [
    ({"tags": ["a"]}, refusals.MUST_BE_PRESENT, "/phone_numbers"),
    ({"phone_numbers": N1, "tags": ["a"]}, STRINGS, "/phone_numbers"),
    ({"phone_numbers": [], "tags": ["a"]}, refusals.TOO_FEW_NUMBERS, "/phone_numbers"),
    ({"phone_numbers": [N1] * 1001, "tags": ["a"]}, refusals.TOO_MANY_NUMBERS, "/phone_numbers"),
    (
        {"phone_numbers": [N1, "1583466971586889004"], "tags": ["a"]},
        refusals.MIXED_NUMBERS,
        "/phone_numbers",
    ),
    ({"phone_numbers": [N1, 3], "tags": ["a"]}, MUST_BE_STRING, "/phone_numbers/1"),
    (
        {"phone_numbers": ["+1 312 555 0100"], "tags": ["a"]},
        "Each item must be either a phone number ID or a phone number in E164 format.",
        "/phone_numbers/0",
    ),
    (one(), refusals.NO_UPDATABLE_FIELD, "/updateable_fields"),
    (voice(), refusals.NO_UPDATABLE_FIELD, "/updateable_fields"),
    (one(colour="red"), "Unknown field 'colour'.", "/colour"),
    (voice(volume=11), "Unknown field 'volume'.", "/voice/volume"),
    (one(tags="a"), STRINGS, "/tags"),
    (one(tags=["a", 1]), MUST_BE_STRING, "/tags/1"),
    (one(external_pin=1234), MUST_BE_STRING, "/external_pin"),
    (one(external_pin=None), MUST_BE_STRING, "/external_pin"),
    (one(hd_voice_enabled="true"), MUST_BE_BOOLEAN, "/hd_voice_enabled"),
    (one(voice=[]), "The field must be an object.", "/voice"),
    (
        voice(usage_payment_method="per-call"),
        "The field must be one of: pay-per-minute, channel.",
        "/voice/usage_payment_method",
    ),
    (
        voice(inbound_call_screening="block"),
        "The field must be one of: disabled, reject_calls, flag_calls.",
        "/voice/inbound_call_screening",
    ),
    (
        voice(call_recording={"inbound_call_recording_format": "ogg"}),
        "The field must be one of: wav, mp3.",
        RECORDING + "inbound_call_recording_format",
    ),
    (
        voice(call_recording={"inbound_call_recording_channels": "stereo"}),
        "The field must be one of: single, dual.",
        RECORDING + "inbound_call_recording_channels",
    ),
    (
        voice(media_features={"rtp_auto_adjust_enabled": 1}),
        MUST_BE_BOOLEAN,
        "/voice/media_features/rtp_auto_adjust_enabled",
    ),
    # Forwarding: the reference page's "on_failure" is not what the spec accepts.
    (
        voice(call_forwarding={"forwarding_type": "on_failure"}),
        "The field must be one of: always, on-failure.",
        FORWARDING + "forwarding_type",
    ),
    (voice(call_forwarding={"forwards_to": "3035559123"}), NOT_E164, FORWARDING + "forwards_to"),
    (
        voice(call_forwarding={"forwards_to": "+1 303 555 9123"}),
        NOT_E164,
        FORWARDING + "forwards_to",
    ),
    # CNAM: at most 15 letters, digits or spaces, and only with cnam_listing_enabled = true.
    (
        voice(
            cnam_listing={
                "cnam_listing_enabled": True,
                "cnam_listing_details": "ACME WIDGETS CO" + "X",
            }
        ),
        CNAM_TEXT,
        CNAM + "cnam_listing_details",
    ),
    (
        voice(cnam_listing={"cnam_listing_enabled": True, "cnam_listing_details": "ACME-CO"}),
        CNAM_TEXT,
        CNAM + "cnam_listing_details",
    ),
    (
        voice(cnam_listing={"cnam_listing_details": "ACME"}),
        CNAM_NEEDS_ENABLED,
        CNAM + "cnam_listing_enabled",
    ),
    (
        voice(cnam_listing={"cnam_listing_enabled": False, "cnam_listing_details": "ACME"}),
        CNAM_NEEDS_ENABLED,
        CNAM + "cnam_listing_enabled",
    ),
    ([N1], "The request body must be a JSON object.", "/"),
]


@pytest.mark.parametrize(("body", "detail", "pointer"), UPDATE_REFUSALS)
def test_update_refusals(body: Any, detail: str, pointer: str) -> None:
    refusal = refusal_of(parse_update, body, has_filters=False)
    assert (refusal.status, refusal.code, refusal.title) == (422, "10015", "Bad Request")
    assert (refusal.detail, refusal.pointer) == (detail, pointer)


def test_a_body_that_is_not_json_is_a_400() -> None:
    refusal = refusal_of(parse_update, b"{phone_numbers: ", has_filters=False)
    assert (refusal.status, refusal.code, refusal.pointer) == (400, "10015", "/")


def test_with_filters_an_empty_list_is_allowed_but_the_field_must_be_present() -> None:
    body = parse_update(orjson.dumps({"phone_numbers": [], "tags": ["a"]}), has_filters=True)
    assert body.numbers.entries == ()
    refusal = refusal_of(parse_update, {"tags": ["a"]}, has_filters=True)
    assert (refusal.detail, refusal.pointer) == (refusals.MUST_BE_PRESENT, "/phone_numbers")


def test_a_full_update_is_read_into_fields_and_voice() -> None:
    body = parse_update(
        orjson.dumps(
            {
                "phone_numbers": [N1, N2, N1],
                "tags": ["a", "b"],
                "external_pin": "1234",
                "customer_reference": "ref",
                "connection_id": "c1",
                "billing_group_id": "b1",
                "hd_voice_enabled": True,
                "deletion_lock_enabled": False,
                "voice": {
                    "tech_prefix_enabled": True,
                    "translated_number": "+13035559999",
                    "caller_id_name_enabled": True,
                    "call_forwarding": {
                        "call_forwarding_enabled": True,
                        "forwards_to": "+13035559123",
                        "forwarding_type": "on-failure",
                    },
                    "cnam_listing": {
                        "cnam_listing_enabled": True,
                        "cnam_listing_details": "ACME 2",
                    },
                    "usage_payment_method": "channel",
                    "media_features": {"t38_fax_gateway_enabled": True},
                    "call_recording": {"inbound_call_recording_enabled": True},
                    "inbound_call_screening": "flag_calls",
                },
            }
        ),
        has_filters=False,
    )
    assert body.numbers.entries == (N1, N2)  # unique, in order
    assert body.numbers.kind is EntryKind.E164
    assert body.numbers.echo() == [{"phone_number": N1}, {"phone_number": N2}]
    assert set(body.fields) == {
        "tags",
        "external_pin",
        "customer_reference",
        "connection_id",
        "billing_group_id",
        "hd_voice_enabled",
        "deletion_lock_enabled",
    }
    assert body.voice["call_forwarding"]["forwarding_type"] == "on-failure"
    assert body.pointer == "/voice/call_forwarding/forwards_to"


def test_blank_forwards_to_clears_forwarding() -> None:
    raw = orjson.dumps({"phone_numbers": [N1], "voice": {"call_forwarding": {"forwards_to": ""}}})
    assert parse_update(raw, has_filters=False).voice["call_forwarding"]["forwards_to"] == ""


def test_ids_are_echoed_as_ids_and_the_pointer_is_the_first_field() -> None:
    raw = orjson.dumps({"phone_numbers": ["1583466971586889004"], "external_pin": "1"})
    body = parse_update(raw, has_filters=False)
    assert body.numbers.echo() == [{"id": "1583466971586889004"}]
    assert body.pointer == "/external_pin"


def test_json_pointers_escape_slash_and_tilde() -> None:
    refusal = refusal_of(parse_update, {"phone_numbers": [N1], "a/b~c": 1}, has_filters=False)
    assert refusal.pointer == "/a~1b~0c"


DELETE_REFUSALS = [
    ({}, refusals.MUST_BE_PRESENT, "/phone_numbers"),
    ({"phone_numbers": []}, refusals.TOO_FEW_NUMBERS, "/phone_numbers"),
    ({"phone_numbers": [N1], "tags": ["a"]}, "Unknown field 'tags'.", "/tags"),
    ({"phone_numbers": ["1", N1]}, refusals.MIXED_NUMBERS, "/phone_numbers"),
]


@pytest.mark.parametrize(("body", "detail", "pointer"), DELETE_REFUSALS)
def test_delete_refusals(body: Any, detail: str, pointer: str) -> None:
    refusal = refusal_of(parse_delete, body)
    assert (refusal.status, refusal.code, refusal.detail, refusal.pointer) == (
        422,
        "10015",
        detail,
        pointer,
    )


def emergency(**fields: Any) -> dict[str, Any]:
    return {"phone_numbers": [N1], **fields}


ADDRESS = "/emergency_address_id"
ADDRESS_REQUIRED = "Required if emergency_enabled is true."
ADDRESS_FORBIDDEN = "Must be null or omitted if emergency_enabled is false."

EMERGENCY_REFUSALS = [
    (emergency(), refusals.MUST_BE_PRESENT, "/emergency_enabled"),
    (emergency(emergency_enabled="yes"), MUST_BE_BOOLEAN, "/emergency_enabled"),
    (emergency(emergency_enabled=True), ADDRESS_REQUIRED, ADDRESS),
    (emergency(emergency_enabled=True, emergency_address_id=None), ADDRESS_REQUIRED, ADDRESS),
    (emergency(emergency_enabled=False, emergency_address_id="91021"), ADDRESS_FORBIDDEN, ADDRESS),
    (emergency(emergency_enabled=True, emergency_address_id=12), MUST_BE_STRING, ADDRESS),
    ({"emergency_enabled": False}, refusals.MUST_BE_PRESENT, "/phone_numbers"),
]


@pytest.mark.parametrize(("body", "detail", "pointer"), EMERGENCY_REFUSALS)
def test_emergency_refusals(body: Any, detail: str, pointer: str) -> None:
    refusal = refusal_of(parse_emergency, body)
    assert (refusal.status, refusal.code, refusal.detail, refusal.pointer) == (
        422,
        "10015",
        detail,
        pointer,
    )


def test_emergency_bodies_that_are_fine() -> None:
    on = parse_emergency(
        orjson.dumps(
            {"phone_numbers": [N1], "emergency_enabled": True, "emergency_address_id": "9"}
        )
    )
    assert (on.enabled, on.address_id, on.pointer) == (True, "9", "/emergency_address_id")
    off = parse_emergency(
        orjson.dumps(
            {"phone_numbers": [N1], "emergency_enabled": False, "emergency_address_id": None}
        )
    )
    assert (off.enabled, off.address_id, off.pointer) == (False, None, "/emergency_enabled")
