"""Spec validation: every rule, every problem at once, messages that say what to change."""

from __future__ import annotations

from typing import Any

import pytest

from bulkupdate.errors import SpecError, UsageError
from bulkupdate.request.schema import FILTER_SCHEMA, FILTERS, UPDATE_FIELDS, UPDATE_SCHEMA
from bulkupdate.request.schema_types import ValueType
from bulkupdate.request.spec import UpdateSpec, load_update_spec


def problems_of(fields: Any, filters: Any = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        UpdateSpec.from_mapping(fields, filters)
    return list(caught.value.problems)


def only_problem(fields: Any, filters: Any = None) -> str:
    (problem,) = problems_of(fields, filters)
    return problem


def test_spec_error_is_a_usage_error_listing_every_problem() -> None:
    with pytest.raises(UsageError) as caught:
        UpdateSpec.from_mapping({"hd_voice_enabled": "maybe", "tgas": ["a"]})
    assert isinstance(caught.value, SpecError)
    assert "hd_voice_enabled" in str(caught.value)
    assert "tgas" in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(
        {
            "tgas": ["a"],
            "hd_voice_enabled": "maybe",
            "external_pin": 1234,
            "voice": {
                "usage_payment_method": "per-minute",
                "call_forwarding": {"forwards_to": "3035559123", "forwarding_type": "sometimes"},
                "cnam_listing": {"cnam_listing_details": "Far too long a name!"},
            },
        },
        {"phone_number": "12", "voice.connection_name.contains": "ac", "stauts": "active"},
    )
    expected = [
        "unknown field 'tgas'; did you mean 'tags'?",
        "hd_voice_enabled must be true or false",
        "external_pin must be a string, got 1234 (int); quote it",
        "voice.usage_payment_method must be one of: pay-per-minute, channel; got 'per-minute'",
        "voice.call_forwarding.forwards_to must be a +E.164 number",
        "voice.call_forwarding.forwarding_type must be one of: always, on-failure",
        "voice.cnam_listing.cnam_listing_details must be at most 15 characters, got 20",
        "voice.cnam_listing.cnam_listing_details may hold only letters, digits and spaces",
        "cnam_listing_details needs voice.cnam_listing.cnam_listing_enabled=true",
        "filter phone_number needs at least 3 digits",
        "filter voice.connection_name.contains needs at least 3 characters",
        "unknown filter 'stauts'; did you mean 'status'?",
    ]
    assert len(problems) == len(expected), problems
    for fragment in expected:
        assert any(fragment in problem for problem in problems), (fragment, problems)


def test_the_constructor_validates_too() -> None:
    with pytest.raises(SpecError, match="unknown field 'bogus'"):
        UpdateSpec(fields={"bogus": 1})
    with pytest.raises(SpecError, match="unknown filter 'bogus'"):
        UpdateSpec(fields={"tags": []}, filters=(("bogus", "1"),))


# --- unknown names and suggestions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "suggestion"),
    [
        ({"tag": ["a"]}, "tags"),
        ({"hd_voice": True}, "hd_voice_enabled"),
        ({"voice": {"call_fowarding": {"forwards_to": "+13035559123"}}}, "voice.call_forwarding"),
        (
            {"voice": {"call_forwarding": {"forward_to": "+13035559123"}}},
            "voice.call_forwarding.forwards_to",
        ),
        ({"forwards_to": "+13035559123"}, "voice.call_forwarding.forwards_to"),
        ({"call_forwarding": {"forwards_to": "+13035559123"}}, "voice.call_forwarding"),
        ({"inbound_call_screening": "disabled"}, "voice.inbound_call_screening"),
        (
            {"voice.cnam_listing.cnam_listing_detail": "x"},
            "voice.cnam_listing.cnam_listing_details",
        ),
    ],
)
def test_unknown_fields_suggest_the_closest_name(fields: dict[str, Any], suggestion: str) -> None:
    assert f"did you mean {suggestion!r}?" in problems_of(fields)[0]


def test_unknown_field_without_a_close_name_lists_its_siblings() -> None:
    assert only_problem({"xyzzy": 1}) == (
        "unknown field 'xyzzy'; fields at the top level are: tags, external_pin, "
        "customer_reference, connection_id, billing_group_id, hd_voice_enabled, "
        "deletion_lock_enabled, voice"
    )
    problem = only_problem({"voice": {"xyzzy": 1}})
    assert problem.startswith(
        "unknown field 'voice.xyzzy'; fields under voice are: tech_prefix_enabled"
    )


def test_a_group_needs_fields_not_a_value() -> None:
    problem = only_problem({"voice": {"call_forwarding": True}})
    assert problem.startswith("voice.call_forwarding is a group; set one of: ")
    assert "voice.call_forwarding.forwards_to" in problem


@pytest.mark.parametrize("name", ["phone_numbers", "filter", "emergency_enabled"])
def test_names_that_belong_elsewhere_say_where(name: str) -> None:
    assert only_problem({name: "x", "tags": []}).startswith(f"{name} does not belong here: ")


# --- types ---------------------------------------------------------------------------------------


BOOLEAN = "must be true or false (--set also takes yes/no/1/0), got"
TAGS = "tags must be a list of strings (on the command line: tags=a,b), got"
MEDIA = "voice.media_features.t38_fax_gateway_enabled"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hd_voice_enabled": "true"}, f"hd_voice_enabled {BOOLEAN} 'true'"),
        ({"deletion_lock_enabled": 1}, f"deletion_lock_enabled {BOOLEAN} 1 (int)"),
        ({"external_pin": 123456}, "external_pin must be a string, got 123456 (int); quote it"),
        ({"connection_id": True}, "connection_id must be a string, got True (bool)"),
        ({"tags": "a,b"}, f"{TAGS} 'a,b'"),
        ({"tags": ["a", 2]}, f"{TAGS} ['a', 2] (list)"),
        (
            {"voice": {"usage_payment_method": 3}},
            "voice.usage_payment_method must be one of the allowed values, got 3 (int); quote it",
        ),
        ({MEDIA: None}, f"{MEDIA} {BOOLEAN} None (NoneType)"),
    ],
)
def test_wrong_types_name_the_field_and_the_type(fields: dict[str, Any], message: str) -> None:
    assert only_problem(fields) == message


def test_fields_must_be_a_mapping() -> None:
    assert "fields must be a mapping" in only_problem(["tags"])


@pytest.mark.parametrize("field", [f for f in UPDATE_FIELDS if f.type is ValueType.BOOLEAN])
def test_every_boolean_field_takes_true_and_false(field: Any) -> None:
    spec = load_update_spec(sets=[f"{field.path}=yes"])
    assert dict(UPDATE_SCHEMA.flatten(spec.describe()["fields"])) == {field.path: True}
    assert "must be true or false" in problems_of({field.path: "on"})[0]


# --- enums and aliases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "given", "stored"),
    [
        ("voice.call_forwarding.forwarding_type", "on_failure", "on-failure"),
        ("voice.call_forwarding.forwarding_type", "On-Failure", "on-failure"),
        ("voice.call_forwarding.forwarding_type", "ALWAYS", "always"),
        ("voice.usage_payment_method", "pay_per_minute", "pay-per-minute"),
        ("voice.inbound_call_screening", "reject-calls", "reject_calls"),
        ("voice.call_recording.inbound_call_recording_format", "MP3", "mp3"),
        ("voice.call_recording.inbound_call_recording_channels", "dual", "dual"),
    ],
)
def test_choices_take_the_spec_spelling(path: str, given: str, stored: str) -> None:
    fields: dict[str, Any] = {path: given}
    if path.endswith("forwarding_type"):
        fields["voice.call_forwarding.forwards_to"] = "+13035559123"
    spec = UpdateSpec.from_mapping(fields)
    assert dict(UPDATE_SCHEMA.flatten(spec.describe()["fields"]))[path] == stored


def test_a_value_outside_the_choices_lists_the_allowed_ones() -> None:
    problem = only_problem({"voice": {"inbound_call_screening": "block_calls"}})
    assert problem == (
        "voice.inbound_call_screening must be one of: disabled, reject_calls, flag_calls; "
        "got 'block_calls'; did you mean 'flag_calls'?"
    )
    problem = only_problem({"voice.call_recording.inbound_call_recording_format": "ogg"})
    assert (
        problem
        == "voice.call_recording.inbound_call_recording_format must be one of: wav, mp3; got 'ogg'"
    )


def test_no_two_choices_differ_only_in_case_or_dashes() -> None:
    for field in (*UPDATE_FIELDS, *FILTERS):
        spellings = {c.lower().replace("_", "-") for c in field.choices}
        assert len(spellings) == len(field.choices), field.path


# --- CNAM and call forwarding -------------------------------------------------------------------

CNAM = "voice.cnam_listing."


def test_cnam_details_with_listing_enabled_are_accepted() -> None:
    spec = UpdateSpec.from_mapping(
        {CNAM + "cnam_listing_enabled": True, CNAM + "cnam_listing_details": "Acme Corp 2024 "}
    )
    assert spec.fields["voice"]["cnam_listing"]["cnam_listing_details"] == "Acme Corp 2024 "


def test_cnam_details_over_15_characters() -> None:
    problem = only_problem(
        {CNAM + "cnam_listing_enabled": True, CNAM + "cnam_listing_details": "A" * 16}
    )
    assert (
        problem == f"{CNAM}cnam_listing_details must be at most 15 characters, got 16: {'A' * 16!r}"
    )


@pytest.mark.parametrize("details", ["Acme-Corp", "Acme.", "Café", "tab\there"])
def test_cnam_details_are_letters_digits_and_spaces(details: str) -> None:
    problem = only_problem(
        {CNAM + "cnam_listing_enabled": True, CNAM + "cnam_listing_details": details}
    )
    assert (
        problem
        == f"{CNAM}cnam_listing_details may hold only letters, digits and spaces, got {details!r}"
    )


@pytest.mark.parametrize("enabled", [None, False])
def test_cnam_details_need_listing_enabled(enabled: bool | None) -> None:
    fields: dict[str, Any] = {CNAM + "cnam_listing_details": "Acme"}
    if enabled is not None:
        fields[CNAM + "cnam_listing_enabled"] = enabled
    assert only_problem(fields) == (
        f"{CNAM}cnam_listing_details needs {CNAM}cnam_listing_enabled=true in the same request"
    )


def test_a_bad_cnam_enabled_value_is_not_reported_twice() -> None:
    problem = only_problem(
        {CNAM + "cnam_listing_enabled": "yes", CNAM + "cnam_listing_details": "Acme"}
    )
    assert problem.startswith(f"{CNAM}cnam_listing_enabled must be true or false")


CF = "voice.call_forwarding."


@pytest.mark.parametrize("number", ["+13035559123", "+442071838750", "+12", "+123456789012345", ""])
def test_forwards_to_takes_e164_or_blank(number: str) -> None:
    UpdateSpec.from_mapping({CF + "forwards_to": number})


NOT_E164 = ["13035559123", "+1 303 555 9123", "+1-303-555-9123", "+03035559123", "+1"]


@pytest.mark.parametrize("number", [*NOT_E164, "+1234567890123456", "+1303555912x"])
def test_forwards_to_must_be_e164(number: str) -> None:
    assert only_problem({CF + "forwards_to": number}) == (
        f"{CF}forwards_to must be a +E.164 number such as +13035559123 (or empty to stop "
        f"forwarding), got {number!r}"
    )


@pytest.mark.parametrize("forwards_to", [None, ""])
def test_forwarding_type_needs_forwards_to(forwards_to: str | None) -> None:
    fields: dict[str, Any] = {CF + "forwarding_type": "always"}
    if forwards_to is not None:
        fields[CF + "forwards_to"] = forwards_to
    assert only_problem(fields) == (
        f"{CF}forwarding_type needs {CF}forwards_to in the same request (a +E.164 number): "
        "the type has no effect without it"
    )


def test_call_forwarding_defaults_are_not_added() -> None:
    spec = UpdateSpec.from_mapping({CF + "forwards_to": "+13035559123"})
    assert spec.describe()["fields"] == {
        "voice": {"call_forwarding": {"forwards_to": "+13035559123"}}
    }


# --- nothing to update --------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [{}, {"voice": {}}, {"voice": {"call_forwarding": {}}}])
def test_at_least_one_field_is_needed(fields: dict[str, Any]) -> None:
    assert only_problem(fields).startswith("nothing to update: set at least one field")


def test_filters_alone_update_nothing() -> None:
    assert only_problem({}, {"tag": "legacy"}).startswith("nothing to update")


# --- filters -------------------------------------------------------------------------------------


CN = "voice.connection_name"
STATUSES = (
    "purchase-pending, purchase-failed, port-pending, active, deleted, port-failed, "
    "emergency-only, ported-out, port-out-pending"
)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"phone_number": "30"}, "filter phone_number needs at least 3 digits, got '30'"),
        (
            {"phone_number": "303-55"},
            "filter phone_number must be digits only (no '+', spaces or dashes), got '303-55'",
        ),
        ({CN + ".contains": "ac"}, f"filter {CN}.contains needs at least 3 characters, got 'ac'"),
        (
            {CN + ".starts_with": "ac"},
            f"filter {CN}.starts_with needs at least 3 characters, got 'ac'",
        ),
        ({CN + ".ends_with": ""}, f"filter {CN}.ends_with needs at least 3 characters, got ''"),
        ({CN + ".eq": ""}, f"filter {CN}.eq must not be empty"),
        ({"tag": ""}, "filter tag must not be empty"),
        ({"status": "enabled"}, f"filter status must be one of: {STATUSES}; got 'enabled'"),
        (
            {"voice.usage_payment_method": "minute"},
            "filter voice.usage_payment_method must be one of: pay-per-minute, channel; "
            "got 'minute'; did you mean 'pay-per-minute'?",
        ),
        ({"has_bundle": "maybe"}, "filter has_bundle must be one of: true, false; got 'maybe'"),
        ({"tag": None}, "filter tag must be a string, got None (NoneType)"),
        ({"tag": ["a", "b"]}, "filter tag must be a string, got ['a', 'b'] (list)"),
        (
            {CN: "acme"},
            f"filter {CN} is a group; set one of: {CN}.eq, {CN}.contains, {CN}.starts_with, "
            f"{CN}.ends_with",
        ),
        (
            {"voice": {"connection_name": {"like": "acme"}}},
            f"unknown filter '{CN}.like'; filters under {CN} are: eq, contains, starts_with, "
            "ends_with",
        ),
        ({"tags": "legacy"}, "unknown filter 'tags'; did you mean 'tag'?"),
        ({"state": "active"}, "unknown filter 'state'; did you mean 'status'?"),
    ],
)
def test_filter_problems(filters: dict[str, Any], message: str) -> None:
    assert only_problem({"tags": ["a"]}, filters) == message


def test_phone_number_filter_that_is_too_short_and_not_digits_reports_both() -> None:
    assert problems_of({"tags": []}, {"phone_number": "+1"}) == [
        "filter phone_number needs at least 3 digits, got '+1'",
        "filter phone_number must be digits only (no '+', spaces or dashes), got '+1'",
    ]


@pytest.mark.parametrize(
    ("filters", "name", "value"),
    [
        ({"status": "purchase_pending"}, "status", "purchase-pending"),
        ({"status": "Port_Out_Pending"}, "status", "port-out-pending"),
        (
            {"voice.usage_payment_method": "pay_per_minute"},
            "voice.usage_payment_method",
            "pay-per-minute",
        ),
        ({"has_bundle": False}, "has_bundle", "false"),
        ({"has_bundle": "TRUE"}, "has_bundle", "true"),
        ({"connection_id": 1521916448077776306}, "connection_id", "1521916448077776306"),
        ({"billing_group_id": None}, "billing_group_id", "null"),
        ({"emergency_address_id": None}, "emergency_address_id", "null"),
        ({CN: {"contains": "acme"}}, CN + ".contains", "acme"),
        ({CN + ".contains": "acme"}, CN + ".contains", "acme"),
        ({"voice": {"connection_name": {"contains": "acme"}}}, CN + ".contains", "acme"),
        ({"voice": {"usage_payment_method": "channel"}}, "voice.usage_payment_method", "channel"),
        ({CN + ".eq": "a"}, CN + ".eq", "a"),
    ],
)
def test_filter_values_are_normalised(filters: dict[str, Any], name: str, value: str) -> None:
    assert UpdateSpec.from_mapping({"tags": []}, filters).filters == ((name, value),)


def test_filters_passed_to_the_constructor_as_pairs_or_a_mapping() -> None:
    by_pairs = UpdateSpec({"tags": []}, (("tag", "a"), ("status", "active")))
    by_mapping = UpdateSpec({"tags": []}, {"status": "active", "tag": "a"})  # type: ignore[arg-type]
    assert by_pairs.filters == by_mapping.filters == (("tag", "a"), ("status", "active"))


def test_a_filter_given_twice_with_different_values_is_a_problem() -> None:
    with pytest.raises(SpecError) as caught:
        UpdateSpec(
            {"tags": []},
            (("tag", "a"), ("tag", "b"), ("tag", "a"), ("status", "active"), ("status", "ACTIVE")),
        )
    assert caught.value.problems == (
        "filter tag is given twice ('a' and 'b'); the API takes one value per filter",
    )


def test_filters_must_be_a_mapping_or_pairs() -> None:
    with pytest.raises(SpecError, match="filters must be a mapping"):
        UpdateSpec.from_mapping({"tags": []}, [("tag", "a")])  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"filters must be \(name, value\) pairs, got 'tag'"):
        UpdateSpec({"tags": []}, ("tag", "a"))  # type: ignore[arg-type]


def test_every_filter_has_a_distinct_query_key() -> None:
    keys = [f.query_key for f in FILTERS]
    assert len(set(keys)) == len(keys)
    assert all(k.startswith("filter[") and k.endswith("]") for k in keys)
    assert FILTER_SCHEMA.by_path["voice.connection_name.ends_with"].query_key == (
        "filter[voice.connection_name][ends_with]"
    )
