"""Turning raw strings into +E.164 numbers or ids."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.errors import UsageError
from bulkupdate.input.normalise import Normaliser, Rejected

US = Normaliser(default_region="US")


@pytest.mark.parametrize(
    "raw",
    ["+13127367254", "+1 (312) 736-7254", "1-312-736-7254", "(312) 736-7254", " 312.736.7254 "],
)
def test_messy_us_formats_become_e164(raw: str) -> None:
    assert US(raw) == "+13127367254"


def test_long_digit_strings_are_ids() -> None:
    assert Normaliser()("1583466971586889004") == "1583466971586889004"


def test_ids_only_reads_short_digit_strings_as_ids() -> None:
    assert Normaliser(ids_only=True)("3388768018273") == "3388768018273"


def test_ids_only_rejects_non_digits() -> None:
    with pytest.raises(Rejected, match="digits only"):
        Normaliser(ids_only=True)("+13127367254")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("hello", "not a phone number"),
        ("+1555", "too short"),
        ("+13127367254999", "too long"),
        ("3127367254", "no country code"),
        ("", "empty"),
    ],
)
def test_rejections_say_why(raw: str, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        Normaliser()(raw)


def test_possible_but_not_valid_passes_unless_strict() -> None:
    # +1 212 0xx is not a valid US exchange, but its length is possible.
    raw = "+12120123456"
    assert Normaliser()(raw) == raw
    with pytest.raises(Rejected, match="strict"):
        Normaliser(strict=True)(raw)


def test_trunk_prefix_after_country_code_is_dropped() -> None:
    assert Normaliser()("+49 0221 1234567") == "+492211234567"
    assert Normaliser()("+4902211234567") == "+492211234567"


def test_unknown_default_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="default-region"):
        Normaliser(default_region="XX")


def test_default_region_is_case_insensitive() -> None:
    assert Normaliser(default_region="gb")("020 7946 0958") == "+442079460958"


e164_numbers = st.sampled_from(
    ["+13127367254", "+442079460958", "+4930123456", "+61291234567", "+8613912345678"]
)


@given(
    number=e164_numbers,
    separators=st.lists(st.sampled_from([" ", "-", ".", "(", ")"]), max_size=12),
    data=st.data(),
)
def test_e164_survives_formatting_noise(number: str, separators: list[str], data) -> None:
    digits = list(number[1:])
    for sep in separators:
        digits.insert(data.draw(st.integers(1, len(digits))), sep)
    noisy = "+" + "".join(digits)
    assert US(f"  {noisy} ") == number


@given(st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True))
def test_fast_path_agrees_with_phonenumbers_on_canonical_numbers(raw: str) -> None:
    try:
        parsed = phonenumbers.parse(raw)
    except phonenumbers.NumberParseException:
        assert not Normaliser.is_possible_e164(raw)
        return
    canonical = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == raw
    possible = phonenumbers.is_possible_number_with_reason(parsed) == (
        phonenumbers.ValidationResult.IS_POSSIBLE
    )
    if canonical and Normaliser.is_possible_e164(raw):
        assert possible  # the fast path only takes what phonenumbers would
    if canonical and possible:
        assert Normaliser()(raw) == raw  # never refuse what phonenumbers accepts
