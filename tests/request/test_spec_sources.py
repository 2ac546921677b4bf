"""Where a spec comes from: --spec FILE (JSON or TOML), --set PATH=VALUE and --filter NAME=VALUE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.errors import SpecError
from bulkupdate.request.spec import UpdateSpec, load_update_spec

SPEC_TOML = """\
tags = ["vip", "gold"]
hd_voice_enabled = true

[voice]
tech_prefix_enabled = false

[voice.call_forwarding]
forwards_to = "+13035559123"
forwarding_type = "on_failure"

[filter]
tag = "legacy"
status = "purchase_pending"
voice.connection_name.contains = "acme"
"""

SPEC_JSON: dict[str, Any] = {
    "tags": ["vip", "gold"],
    "hd_voice_enabled": True,
    "voice": {
        "tech_prefix_enabled": False,
        "call_forwarding": {"forwards_to": "+13035559123", "forwarding_type": "on_failure"},
    },
    "filter": {
        "tag": "legacy",
        "status": "purchase_pending",
        "voice.connection_name": {"contains": "acme"},
    },
}

EXPECTED_FIELDS = {
    "tags": ["vip", "gold"],
    "hd_voice_enabled": True,
    "voice": {
        "tech_prefix_enabled": False,
        "call_forwarding": {"forwards_to": "+13035559123", "forwarding_type": "on-failure"},
    },
}
EXPECTED_FILTERS = {
    "tag": "legacy",
    "status": "purchase-pending",
    "voice.connection_name.contains": "acme",
}


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def problems_of(**kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_update_spec(**kwargs)
    return list(caught.value.problems)


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    return write(tmp_path / "spec.toml", SPEC_TOML)


@pytest.fixture
def json_file(tmp_path: Path) -> Path:
    return write(tmp_path / "spec.json", json.dumps(SPEC_JSON))


# --- files ---------------------------------------------------------------------------------------


def test_toml_file_with_filters(toml_file: Path) -> None:
    spec = load_update_spec(toml_file)
    assert spec.describe()["fields"] == EXPECTED_FIELDS
    assert spec.describe()["filters"] == EXPECTED_FILTERS
    assert spec.query_string() == (
        "filter[tag]=legacy&filter[status]=purchase-pending"
        "&filter[voice.connection_name][contains]=acme"
    )


def test_json_file_reads_like_the_toml_one(json_file: Path, toml_file: Path) -> None:
    from_json = load_update_spec(str(json_file))
    assert from_json == load_update_spec(toml_file)
    assert orjson.loads(from_json.encode_body(["+13127367254"])) == {
        "phone_numbers": ["+13127367254"],
        **EXPECTED_FIELDS,
    }


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    spec = load_update_spec(write(tmp_path / "SPEC.JSON", '{"tags": []}'))
    assert spec.describe()["fields"] == {"tags": []}


def test_dotted_keys_and_byte_order_mark(tmp_path: Path) -> None:
    text = '\ufeffvoice.call_recording.inbound_call_recording_format = "mp3"\n'
    spec = load_update_spec(write(tmp_path / "spec.toml", text))
    assert spec.describe()["fields"] == {
        "voice": {"call_recording": {"inbound_call_recording_format": "mp3"}}
    }


def test_file_values_are_validated_with_the_field_named(tmp_path: Path) -> None:
    text = (
        'external_pin = 1234\nphone_numbers = ["+13127367254"]\n'
        '[voice]\nusage_payment_method = "minute"\n'
    )
    assert problems_of(spec_file=write(tmp_path / "spec.toml", text)) == [
        "external_pin must be a string, got 1234 (int); quote it",
        "phone_numbers does not belong here: the numbers come from the input and are batched by "
        "bulkupdate",
        "voice.usage_payment_method must be one of: pay-per-minute, channel; got 'minute'; "
        "did you mean 'pay-per-minute'?",
    ]


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(spec_file=tmp_path / "nope.toml") == [
        f"{tmp_path / 'nope.toml'}: spec file not found"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir.json"
    directory.mkdir()
    (problem,) = problems_of(spec_file=directory)
    assert problem.startswith(f"{directory}: cannot read the spec file: ")


def test_unknown_extension(tmp_path: Path) -> None:
    assert problems_of(spec_file=write(tmp_path / "spec.yaml", "tags: []")) == [
        f"{tmp_path / 'spec.yaml'}: cannot tell the format from '.yaml'; "
        "name the spec file *.json or *.toml"
    ]


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.json", '{\n  "tags": ["a"],\n  "hd_voice_enabled": tru\n}\n')
    assert problems_of(spec_file=path) == [
        f"{path} line 3, column 23: not valid JSON: Expecting value"
    ]


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.toml", 'tags = ["a"]\nhd_voice_enabled = tru\n')
    (problem,) = problems_of(spec_file=path)
    assert problem.startswith(f"{path} line 2, column 20: not valid TOML: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.toml", b'tags = ["caf\xe9"]\n')
    assert problems_of(spec_file=path) == [f"{path}: not UTF-8 text (bad byte at offset 12)"]


def test_json_must_hold_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.json", '["tags"]')
    (problem,) = problems_of(spec_file=path)
    assert problem.startswith(f"{path}: the spec must be a JSON object of fields")


def test_filter_must_be_a_table(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.json", '{"tags": [], "filter": "tag=legacy"}')
    assert problems_of(spec_file=path) == [
        f'{path}: filter must be a table of filters, e.g. filter = {{tag = "legacy"}}'
    ]


def test_file_problems_come_with_flag_problems_but_without_nothing_to_update(
    tmp_path: Path,
) -> None:
    problems = problems_of(
        spec_file=tmp_path / "nope.json", sets=["hd_voice_enabled"], filters=["tag"]
    )
    assert problems == [
        f"{tmp_path / 'nope.json'}: spec file not found",
        "--set 'hd_voice_enabled' must look like NAME=VALUE, e.g. --set hd_voice_enabled=true",
        "--filter 'tag' must look like NAME=VALUE, e.g. --filter tag=legacy",
    ]


def test_an_unreadable_file_does_not_hide_problems_in_the_flags(tmp_path: Path) -> None:
    problems = problems_of(
        spec_file=tmp_path / "nope.json", sets=["hd_voice=true"], filters=["stat=active"]
    )
    assert problems == [
        f"{tmp_path / 'nope.json'}: spec file not found",
        "unknown field 'hd_voice'; did you mean 'hd_voice_enabled'?",
        "unknown filter 'stat'; did you mean 'status'?",
    ]


# --- --set ---------------------------------------------------------------------------------------


def test_set_overrides_the_file_field_by_field(toml_file: Path) -> None:
    spec = load_update_spec(
        toml_file,
        sets=[
            "voice.call_forwarding.forwards_to=+442071838750",
            "voice.usage_payment_method=channel",
            "tags=",
        ],
    )
    assert spec.describe()["fields"] == {
        "tags": [],
        "hd_voice_enabled": True,
        "voice": {
            "tech_prefix_enabled": False,
            "call_forwarding": {"forwards_to": "+442071838750", "forwarding_type": "on-failure"},
            "usage_payment_method": "channel",
        },
    }


def test_set_can_fix_a_bad_value_in_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "spec.json", '{"voice": {"cnam_listing": {"cnam_listing_details": "Acme"}}}'
    )
    assert problems_of(spec_file=path)[0].endswith("cnam_listing_enabled=true in the same request")
    spec = load_update_spec(path, sets=["voice.cnam_listing.cnam_listing_enabled=true"])
    assert spec.fields["voice"]["cnam_listing"] == {
        "cnam_listing_details": "Acme",
        "cnam_listing_enabled": True,
    }


def test_the_last_set_wins() -> None:
    spec = load_update_spec(sets=["external_pin=1", "external_pin=0042"])
    assert spec.fields == {"external_pin": "0042"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True), ("TRUE", True), ("yes", True), ("Yes", True), ("1", True), (" true ", True),
        ("false", False), ("False", False), ("no", False), ("NO", False), ("0", False),
    ],
)  # fmt: skip
def test_set_booleans(text: str, value: bool) -> None:
    assert load_update_spec(sets=[f"hd_voice_enabled={text}"]).fields == {"hd_voice_enabled": value}


@pytest.mark.parametrize("text", ["", "on", "2", "truthy"])
def test_set_rejects_other_booleans(text: str) -> None:
    assert problems_of(sets=[f"deletion_lock_enabled={text}"]) == [
        f"deletion_lock_enabled must be true or false (--set also takes yes/no/1/0), got {text!r}"
    ]


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("a,b", ("a", "b")),
        ("a, b ,c", ("a", "b", "c")),
        ("single", ("single",)),
        ("", ()),
        ("a,,b,", ("a", "b")),
    ],
)
def test_set_tags_is_a_comma_separated_list(text: str, tags: tuple[str, ...]) -> None:
    assert load_update_spec(sets=[f"tags={text}"]).fields == {"tags": tags}


def test_set_keeps_text_as_given_and_splits_at_the_first_equals_sign() -> None:
    spec = load_update_spec(
        sets=["customer_reference= a=b ", "voice.translated_number=+13035559999"]
    )
    assert spec.fields["customer_reference"] == " a=b "
    assert spec.fields["voice"]["translated_number"] == "+13035559999"


def test_set_choices_take_aliases() -> None:
    spec = load_update_spec(
        sets=[
            "voice.call_forwarding.forwards_to=+13035559123",
            "voice.call_forwarding.forwarding_type=on_failure",
        ]
    )
    assert spec.fields["voice"]["call_forwarding"]["forwarding_type"] == "on-failure"


@pytest.mark.parametrize("text", ["hd_voice_enabled", "=true", " =true"])
def test_set_needs_a_name_and_an_equals_sign(text: str) -> None:
    assert problems_of(sets=[text, "tags=a"]) == [
        f"--set {text!r} must look like NAME=VALUE, e.g. --set hd_voice_enabled=true"
    ]


def test_set_unknown_path_is_suggested() -> None:
    assert problems_of(sets=["voice.call_forwarding.forward_to=+13035559123"]) == [
        "unknown field 'voice.call_forwarding.forward_to'; did you mean "
        "'voice.call_forwarding.forwards_to'?"
    ]


def test_set_a_group_is_a_problem() -> None:
    (problem,) = problems_of(sets=["voice.media_features=true"])
    assert problem.startswith("voice.media_features is a group; set one of: voice.media_features.")


def test_nothing_given_at_all() -> None:
    (problem,) = problems_of()
    assert problem.startswith(
        "nothing to update: set at least one field, e.g. --set hd_voice_enabled=true"
    )


# --- --filter ------------------------------------------------------------------------------------


def test_filter_flags() -> None:
    spec = load_update_spec(
        sets=["tags=a"],
        filters=["tag=legacy", "voice.connection_name.contains=acme", "status=active"],
    )
    assert spec.query_params() == [
        ("filter[tag]", "legacy"),
        ("filter[status]", "active"),
        ("filter[voice.connection_name][contains]", "acme"),
    ]
    assert spec.query_string() == (
        "filter[tag]=legacy&filter[status]=active&filter[voice.connection_name][contains]=acme"
    )


def test_filter_flag_overrides_the_file(toml_file: Path) -> None:
    spec = load_update_spec(toml_file, filters=["tag=current", "phone_number=303"])
    assert spec.describe()["filters"] == {
        **EXPECTED_FILTERS,
        "tag": "current",
        "phone_number": "303",
    }


def test_filter_flag_given_twice_is_a_problem(toml_file: Path) -> None:
    assert problems_of(spec_file=toml_file, filters=["tag=a", "tag=b"]) == [
        "filter tag is given twice ('a' and 'b'); the API takes one value per filter"
    ]


def test_filter_aliases_and_null() -> None:
    spec = load_update_spec(
        sets=["tags=a"],
        filters=["status=port_out_pending", "emergency_address_id=null", "has_bundle=False"],
    )
    assert spec.filters == (
        ("has_bundle", "false"),
        ("status", "port-out-pending"),
        ("emergency_address_id", "null"),
    )


def test_filter_values_from_a_json_file_may_be_numbers_booleans_and_null(tmp_path: Path) -> None:
    body = {
        "tags": [],
        "filter": {
            "connection_id": 1521916448077776306,
            "has_bundle": True,
            "billing_group_id": None,
        },
    }
    spec = load_update_spec(write(tmp_path / "spec.json", json.dumps(body)))
    assert spec.query_string() == (
        "filter[has_bundle]=true&filter[connection_id]=1521916448077776306&filter[billing_group_id]=null"
    )


def test_every_problem_from_every_source_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.toml", 'hd_voice_enabled = "yes"\n[filter]\nphone_number = "1"\n')
    problems = problems_of(
        spec_file=path,
        sets=["tgas=a", "voice.call_forwarding.forwarding_type=sometimes", "broken"],
        filters=["voice.connection_name=acme", "status=gone", "nope"],
    )
    assert problems == [
        "--set 'broken' must look like NAME=VALUE, e.g. --set hd_voice_enabled=true",
        "--filter 'nope' must look like NAME=VALUE, e.g. --filter tag=legacy",
        "hd_voice_enabled must be true or false (--set also takes yes/no/1/0), got 'yes'",
        "unknown field 'tgas'; did you mean 'tags'?",
        "voice.call_forwarding.forwarding_type must be one of: always, on-failure; got 'sometimes'",
        "voice.call_forwarding.forwarding_type needs voice.call_forwarding.forwards_to in the same "
        "request (a +E.164 number): the type has no effect without it",
        "filter phone_number needs at least 3 digits, got '1'",
        "filter voice.connection_name is a group; set one of: voice.connection_name.eq, "
        "voice.connection_name.contains, voice.connection_name.starts_with, "
        "voice.connection_name.ends_with",
        "filter status must be one of: purchase-pending, purchase-failed, port-pending, active, "
        "deleted, port-failed, emergency-only, ported-out, port-out-pending; got 'gone'",
    ]


def test_library_and_command_line_agree(toml_file: Path) -> None:
    from_mapping = UpdateSpec.from_mapping(
        {k: v for k, v in SPEC_JSON.items() if k != "filter"}, SPEC_JSON["filter"]
    )
    assert from_mapping == load_update_spec(toml_file)
