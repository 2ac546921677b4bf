"""Job requests: bodies and query strings exactly as the API documents them."""

from __future__ import annotations

import copy
import dataclasses
import doctest
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator

from bulkupdate.errors import SpecError
from bulkupdate.request import spec as spec_module
from bulkupdate.request import spec_files
from bulkupdate.request.schema import UPDATE_FIELDS, UPDATE_SCHEMA
from bulkupdate.request.schema_types import Field, ValueType
from bulkupdate.request.spec import (
    DeleteRequest,
    EmergencySettingsRequest,
    JobKind,
    JobRequest,
    UpdateSpec,
    load_update_spec,
)

NUMBERS = ["1583466971586889004", "+13127367254"]

# The request sample of the reference page "Update a batch of numbers", as printed there.
REFERENCE_PAGE_EXAMPLE: dict[str, Any] = {
    "phone_numbers": ["1583466971586889004", "+13127367254"],
    "tags": ["tag"],
    "external_pin": "123456",
    "customer_reference": "customer-reference",
    "connection_id": "dc8e4d67-33a0-4cbb-af74-7b58f05bd494",
    "billing_group_id": "dc8e4d67-33a0-4cbb-af74-7b58f05bd494",
    "voice": {
        "call_forwarding": {
            "call_forwarding_enabled": True,
            "forwards_to": "+13035559123",
            "forwarding_type": "always",
        }
    },
}

# `PhoneNumbersJobUpdatePhoneNumbersRequest.example` of the OpenAPI spec.
OPENAPI_REQUEST_EXAMPLE: dict[str, Any] = {
    "billing_group_id": "dc8e4d67-33a0-4cbb-af74-7b58f05bd494",
    "connection_id": "dc8e4d67-33a0-4cbb-af74-7b58f05bd494",
    "customer_reference": "customer-reference",
    "deletion_lock_enabled": True,
    "external_pin": "123456",
    "phone_numbers": ["1583466971586889004", "+13127367254"],
    "tags": ["tag"],
    "voice": {
        "call_forwarding": {
            "call_forwarding_enabled": True,
            "forwarding_type": "always",
            "forwards_to": "+13035559123",
        }
    },
}

# `UpdatePhoneNumberVoiceSettingsRequest.example` of the OpenAPI spec.
OPENAPI_VOICE_EXAMPLE: dict[str, Any] = {
    "call_forwarding": {
        "call_forwarding_enabled": True,
        "forwarding_type": "always",
        "forwards_to": "+13035559123",
    },
    "call_recording": {
        "inbound_call_recording_channels": "single",
        "inbound_call_recording_enabled": True,
        "inbound_call_recording_format": "wav",
    },
    "caller_id_name_enabled": True,
    "cnam_listing": {"cnam_listing_details": "example", "cnam_listing_enabled": True},
    "inbound_call_screening": "disabled",
    "media_features": {
        "accept_any_rtp_packets_enabled": True,
        "rtp_auto_adjust_enabled": True,
        "t38_fax_gateway_enabled": True,
    },
    "tech_prefix_enabled": True,
    "translated_number": "+13035559999",
    "usage_payment_method": "pay-per-minute",
}


def _without_numbers(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "phone_numbers"}


def test_reference_page_example_is_encoded_exactly() -> None:
    spec = UpdateSpec.from_mapping(_without_numbers(REFERENCE_PAGE_EXAMPLE))
    assert orjson.loads(spec.encode_body(NUMBERS)) == REFERENCE_PAGE_EXAMPLE


def test_openapi_request_example_is_encoded_exactly() -> None:
    spec = UpdateSpec.from_mapping(_without_numbers(OPENAPI_REQUEST_EXAMPLE))
    assert orjson.loads(spec.encode_body(NUMBERS)) == OPENAPI_REQUEST_EXAMPLE


def test_openapi_voice_example_is_encoded_exactly() -> None:
    spec = UpdateSpec.from_mapping({"voice": OPENAPI_VOICE_EXAMPLE})
    assert orjson.loads(spec.encode_body(NUMBERS)) == {
        "phone_numbers": NUMBERS,
        "voice": OPENAPI_VOICE_EXAMPLE,
    }


def test_reference_page_example_from_command_line_flags() -> None:
    spec = load_update_spec(
        sets=[
            "tags=tag",
            "external_pin=123456",
            "customer_reference=customer-reference",
            "connection_id=dc8e4d67-33a0-4cbb-af74-7b58f05bd494",
            "billing_group_id=dc8e4d67-33a0-4cbb-af74-7b58f05bd494",
            "voice.call_forwarding.call_forwarding_enabled=true",
            "voice.call_forwarding.forwards_to=+13035559123",
            "voice.call_forwarding.forwarding_type=always",
        ]
    )
    assert orjson.loads(spec.encode_body(NUMBERS)) == REFERENCE_PAGE_EXAMPLE


def test_body_starts_with_the_numbers_and_leaves_out_what_was_not_set() -> None:
    spec = UpdateSpec.from_mapping({"hd_voice_enabled": False})
    body = spec.encode_body(("+13127367254",))
    assert body == b'{"phone_numbers":["+13127367254"],"hd_voice_enabled":false}'


def test_empty_tags_are_sent_to_clear_them() -> None:
    body = load_update_spec(sets=["tags="]).encode_body(["+13127367254"])
    assert orjson.loads(body) == {"phone_numbers": ["+13127367254"], "tags": []}


def test_encoding_is_canonical_whatever_the_input_order() -> None:
    one = UpdateSpec.from_mapping({"voice": {"tech_prefix_enabled": True}, "tags": ["a"]})
    two = UpdateSpec.from_mapping({"tags": ["a"], "voice.tech_prefix_enabled": True})
    assert one.encode_body(NUMBERS) == two.encode_body(NUMBERS)
    assert one == two
    assert hash(one) == hash(two)


def test_nested_and_dotted_field_names_build_the_same_tree() -> None:
    spec = UpdateSpec.from_mapping(
        {
            "voice.call_forwarding": {"forwards_to": "+13035559123"},
            "voice": {"caller_id_name_enabled": False},
        }
    )
    assert spec.describe()["fields"] == {
        "voice": {
            "caller_id_name_enabled": False,
            "call_forwarding": {"forwards_to": "+13035559123"},
        }
    }


def test_fields_are_read_only() -> None:
    spec = UpdateSpec.from_mapping({"tags": ["a"], "voice": {"tech_prefix_enabled": True}})
    with pytest.raises(TypeError):
        spec.fields["tags"] = ["b"]  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.fields["voice"]["tech_prefix_enabled"] = False
    assert spec.fields["tags"] == ("a",)


def test_source_mapping_changes_do_not_leak_into_the_spec() -> None:
    source: dict[str, Any] = {"tags": ["a"], "voice": {"tech_prefix_enabled": True}}
    spec = UpdateSpec.from_mapping(source)
    source["tags"].append("b")
    source["voice"]["tech_prefix_enabled"] = False
    assert orjson.loads(spec.encode_body(NUMBERS)) == {
        "phone_numbers": NUMBERS,
        "tags": ["a"],
        "voice": {"tech_prefix_enabled": True},
    }


def test_encoding_accepts_any_sequence_of_numbers() -> None:
    spec = UpdateSpec.from_mapping({"tags": ["a"]})

    class Numbers:  # a Sequence that is neither a list nor a tuple
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> str:
            return NUMBERS[index]

    assert orjson.loads(spec.encode_body(Numbers()))["phone_numbers"] == NUMBERS  # type: ignore[arg-type]


# --- query -------------------------------------------------------------------------------------


def test_filters_become_deep_object_query_parameters_in_schema_order() -> None:
    spec = UpdateSpec.from_mapping(
        {"tags": ["a"]},
        {
            "customer_reference": "ref 1",
            "voice.connection_name": {"contains": "acme"},
            "status": "active",
            "tag": "legacy",
            "has_bundle": True,
            "billing_group_id": None,
        },
    )
    assert spec.query_params() == [
        ("filter[has_bundle]", "true"),
        ("filter[tag]", "legacy"),
        ("filter[status]", "active"),
        ("filter[voice.connection_name][contains]", "acme"),
        ("filter[billing_group_id]", "null"),
        ("filter[customer_reference]", "ref 1"),
    ]
    assert spec.query_string() == (
        "filter[has_bundle]=true&filter[tag]=legacy&filter[status]=active"
        "&filter[voice.connection_name][contains]=acme&filter[billing_group_id]=null"
        "&filter[customer_reference]=ref%201"
    )


@pytest.mark.parametrize(
    ("flag", "key", "value"),
    [
        ("has_bundle=false", "filter[has_bundle]", "false"),
        ("tag=legacy", "filter[tag]", "legacy"),
        ("connection_id=1521916448077776306", "filter[connection_id]", "1521916448077776306"),
        ("phone_number=303555", "filter[phone_number]", "303555"),
        ("status=port-out-pending", "filter[status]", "port-out-pending"),
        ("voice.connection_name.eq=a", "filter[voice.connection_name][eq]", "a"),
        ("voice.connection_name.contains=acm", "filter[voice.connection_name][contains]", "acm"),
        (
            "voice.connection_name.starts_with=acm",
            "filter[voice.connection_name][starts_with]",
            "acm",
        ),
        ("voice.connection_name.ends_with=acm", "filter[voice.connection_name][ends_with]", "acm"),
        ("voice.usage_payment_method=channel", "filter[voice.usage_payment_method]", "channel"),
        ("billing_group_id=null", "filter[billing_group_id]", "null"),
        (
            "emergency_address_id=9102160989215728032",
            "filter[emergency_address_id]",
            "9102160989215728032",
        ),
        ("customer_reference=MY REF 001", "filter[customer_reference]", "MY REF 001"),
    ],
)
def test_every_filter_has_its_query_key(flag: str, key: str, value: str) -> None:
    spec = load_update_spec(sets=["tags=a"], filters=[flag])
    assert spec.query_params() == [(key, value)]


def test_query_string_escapes_values() -> None:
    spec = load_update_spec(
        sets=["tags=a"], filters=["tag=a&b=c d/é+%", "voice.connection_name.eq=x#y"]
    )
    assert spec.query_string() == (
        "filter[tag]=a%26b%3Dc%20d%2F%C3%A9%2B%25&filter[voice.connection_name][eq]=x%23y"
    )


TEXT = st.characters(blacklist_categories=["Cc", "Cs"])  # refused: controls, surrogates


@given(st.text(TEXT, min_size=1), st.text(TEXT, min_size=3))
def test_query_string_decodes_to_the_query_params(tag: str, name: str) -> None:
    spec = UpdateSpec.from_mapping(
        {"tags": []}, {"tag": tag, "voice.connection_name.contains": name}
    )
    assert parse_qsl(spec.query_string(), keep_blank_values=True) == spec.query_params()
    # What is printed is what aiohttp (yarl) sends for `params=`.
    printed = yarl.URL("https://api.telnyx.com/v2/x?" + spec.query_string())
    assert list(printed.query.items()) == spec.query_params()


def test_no_filters_means_no_query() -> None:
    spec = UpdateSpec.from_mapping({"tags": ["a"]})
    assert spec.query_params() == []
    assert spec.query_string() == ""
    assert spec.filters == ()


# --- job kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        (JobKind.UPDATE, "/phone_numbers/jobs/update_phone_numbers"),
        (JobKind.DELETE, "/phone_numbers/jobs/delete_phone_numbers"),
        (JobKind.EMERGENCY, "/phone_numbers/jobs/update_emergency_settings"),
    ],
)
def test_job_kind_paths(kind: JobKind, path: str) -> None:
    assert kind.path == path
    assert JobKind(path.rsplit("/", 1)[1]) is kind


def test_every_request_kind_follows_the_protocol() -> None:
    requests: list[JobRequest] = [
        UpdateSpec.from_mapping({"tags": ["a"]}),
        DeleteRequest(),
        EmergencySettingsRequest(True, "53829456729313"),
    ]
    assert [r.kind for r in requests] == [JobKind.UPDATE, JobKind.DELETE, JobKind.EMERGENCY]
    for request in requests:
        assert isinstance(request, JobRequest)
        orjson.loads(request.encode_body(NUMBERS))
        orjson.dumps(request.describe())


def test_delete_body_is_the_numbers_alone() -> None:
    # `PhoneNumbersJobDeletePhoneNumbersRequest.example` of the OpenAPI spec.
    example: dict[str, Any] = {"phone_numbers": ["+19705555098", "+19715555098", "32873127836"]}
    request = DeleteRequest()
    assert orjson.loads(request.encode_body(example["phone_numbers"])) == example
    assert request.query_params() == []
    assert request.query_string() == ""
    assert request.describe() == {"job": "delete_phone_numbers", "fields": {}, "filters": {}}


def test_emergency_body_matches_the_openapi_example() -> None:
    # `PhoneNumbersJobUpdateEmergencySettingsRequest.example` of the OpenAPI spec.
    example: dict[str, Any] = {
        "emergency_address_id": "53829456729313",
        "emergency_enabled": True,
        "phone_numbers": ["+19705555098", "+19715555098", "32873127836"],
    }
    request = EmergencySettingsRequest(
        emergency_enabled=True, emergency_address_id="53829456729313"
    )
    assert orjson.loads(request.encode_body(example["phone_numbers"])) == example
    assert request.query_params() == []
    assert request.query_string() == ""


def test_disabling_emergency_sends_a_null_address() -> None:
    request = EmergencySettingsRequest(emergency_enabled=False)
    assert request.encode_body(["+19705555098"]) == (
        b'{"emergency_enabled":false,"emergency_address_id":null,"phone_numbers":["+19705555098"]}'
    )
    assert request.describe() == {
        "job": "update_emergency_settings",
        "fields": {"emergency_enabled": False, "emergency_address_id": None},
        "filters": {},
    }


@pytest.mark.parametrize(
    ("enabled", "address", "expected"),
    [
        (True, None, "emergency_address_id is required when emergency_enabled is true"),
        (True, "", "emergency_address_id must be the id of an emergency address"),
        (
            False,
            "53829456729313",
            "emergency_address_id must be left out when emergency_enabled is false",
        ),
        ("yes", None, "emergency_enabled must be true or false"),
        (True, 53829456729313, "emergency_address_id must be the id of an emergency address"),
    ],
)
def test_emergency_settings_are_validated(enabled: Any, address: Any, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        EmergencySettingsRequest(enabled, address)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_describe_lists_fields_and_filters() -> None:
    spec = load_update_spec(
        sets=["tags=a,b", "voice.usage_payment_method=channel"],
        filters=["voice.connection_name.starts_with=acme"],
    )
    assert spec.describe() == {
        "job": "update_phone_numbers",
        "fields": {"tags": ["a", "b"], "voice": {"usage_payment_method": "channel"}},
        "filters": {"voice.connection_name.starts_with": "acme"},
    }


# --- the request schema ------------------------------------------------------------------------

# The request schemas of the OpenAPI spec, copied here (the reference folder is not in CI) and
# tightened with additionalProperties: false so that a misspelt key fails.
_CALL_FORWARDING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "call_forwarding_enabled": {"type": "boolean"},
        "forwarding_type": {"enum": ["always", "on-failure"], "type": "string"},
        "forwards_to": {"type": "string"},
    },
}
_VOICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "call_forwarding": _CALL_FORWARDING,
        "call_recording": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "inbound_call_recording_channels": {"enum": ["single", "dual"], "type": "string"},
                "inbound_call_recording_enabled": {"type": "boolean"},
                "inbound_call_recording_format": {"enum": ["wav", "mp3"], "type": "string"},
            },
        },
        "caller_id_name_enabled": {"type": "boolean"},
        "cnam_listing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cnam_listing_details": {"type": "string"},
                "cnam_listing_enabled": {"type": "boolean"},
            },
        },
        "inbound_call_screening": {
            "enum": ["disabled", "reject_calls", "flag_calls"],
            "type": "string",
        },
        "media_features": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "accept_any_rtp_packets_enabled": {"type": "boolean"},
                "rtp_auto_adjust_enabled": {"type": "boolean"},
                "t38_fax_gateway_enabled": {"type": "boolean"},
            },
        },
        "tech_prefix_enabled": {"type": "boolean"},
        "translated_number": {"type": "string"},
        "usage_payment_method": {"enum": ["pay-per-minute", "channel"], "type": "string"},
    },
}
UPDATE_REQUEST_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["phone_numbers"],
    "properties": {
        "billing_group_id": {"type": "string"},
        "connection_id": {"type": "string"},
        "customer_reference": {"type": "string"},
        "deletion_lock_enabled": {"type": "boolean"},
        "external_pin": {"type": "string"},
        "hd_voice_enabled": {"type": "boolean"},
        "phone_numbers": {"items": {"type": "string"}, "type": "array"},
        "tags": {"items": {"type": "string"}, "type": "array"},
        "voice": _VOICE,
    },
}
EMERGENCY_REQUEST_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["emergency_enabled", "phone_numbers"],
    "properties": {
        "emergency_address_id": {"type": ["string", "null"]},
        "emergency_enabled": {"type": "boolean"},
        "phone_numbers": {"items": {"type": "string"}, "type": "array"},
    },
}


def test_a_spec_setting_every_field_produces_a_body_the_schema_accepts() -> None:
    fields = copy.deepcopy(_without_numbers(OPENAPI_REQUEST_EXAMPLE))
    fields["hd_voice_enabled"] = True
    fields["voice"] = copy.deepcopy(OPENAPI_VOICE_EXAMPLE)
    fields["voice"]["call_forwarding"]["forwarding_type"] = "on_failure"  # normalised to on-failure
    body = orjson.loads(UpdateSpec.from_mapping(fields).encode_body(NUMBERS))
    OAS31Validator(UPDATE_REQUEST_SCHEMA).validate(body)
    assert body["voice"]["call_forwarding"]["forwarding_type"] == "on-failure"


def test_other_job_bodies_match_their_schemas() -> None:
    for request in (EmergencySettingsRequest(True, "1"), EmergencySettingsRequest(False)):
        OAS31Validator(EMERGENCY_REQUEST_SCHEMA).validate(
            orjson.loads(request.encode_body(NUMBERS))
        )
    delete_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["phone_numbers"],
        "properties": {"phone_numbers": {"items": {"type": "string"}, "type": "array"}},
    }
    OAS31Validator(delete_schema).validate(orjson.loads(DeleteRequest().encode_body(NUMBERS)))


# --- properties ----------------------------------------------------------------------------------


def _values_for(field: Field) -> st.SearchStrategy[Any]:
    if field.type is ValueType.BOOLEAN:
        return st.booleans()
    if field.type is ValueType.CHOICE:
        return st.sampled_from(field.choices)
    if field.type is ValueType.STRING_LIST:
        return st.lists(st.text(TEXT, max_size=8), max_size=4)
    if field.path.endswith("forwards_to"):
        return st.from_regex(r"\A\+[1-9]\d{1,14}\Z")
    if field.path.endswith("cnam_listing_details"):
        return st.from_regex(r"\A[A-Za-z0-9 ]{0,15}\Z")
    return st.text(TEXT, max_size=20)


@st.composite
def valid_fields(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(UPDATE_FIELDS), min_size=1, unique=True))
    leaves = {field.path: draw(_values_for(field)) for field in chosen}
    # The two cross-field rules, satisfied.
    if "voice.cnam_listing.cnam_listing_details" in leaves:
        leaves["voice.cnam_listing.cnam_listing_enabled"] = True
    if "voice.call_forwarding.forwarding_type" in leaves:
        leaves["voice.call_forwarding.forwards_to"] = "+13035559123"
    return leaves


@given(valid_fields(), st.lists(st.from_regex(r"\A\+1\d{10}\Z"), min_size=1, max_size=20))
def test_any_valid_spec_encodes_to_its_fields_plus_the_numbers(
    leaves: dict[str, Any], numbers: list[str]
) -> None:
    spec = UpdateSpec(leaves)
    body = orjson.loads(spec.encode_body(numbers))
    assert body == {"phone_numbers": numbers, **spec.describe()["fields"]}
    assert dict(UPDATE_SCHEMA.flatten(body)) == {"phone_numbers": numbers, **leaves}
    OAS31Validator(UPDATE_REQUEST_SCHEMA).validate(body)


def test_replace_validates_again() -> None:
    spec = UpdateSpec.from_mapping({"tags": ["a"]}, {"tag": "legacy"})
    assert dataclasses.replace(spec, filters=(("status", "active"),)).query_params() == [
        ("filter[status]", "active")
    ]
    with pytest.raises(SpecError, match="unknown filter"):
        dataclasses.replace(spec, filters=(("stat", "active"),))


@pytest.mark.parametrize("module", [spec_module, spec_files])
def test_docstring_examples_hold(module: ModuleType) -> None:
    failures, tried = doctest.testmod(module)
    assert tried > 0
    assert failures == 0
