"""Phone-number syntax as the sandbox reads it: ids, +E.164 numbers and stable ids.

The sandbox parses numbers itself (never through the client's code), so a client that drops
the ``+`` or sends a formatted number sees the refusal the real API would give.
"""

from __future__ import annotations

import enum
import re
from hashlib import blake2b

import phonenumbers

_ID = re.compile(r"[0-9]{1,19}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")

# Stable ids have 16 to 19 digits, like Telnyx's ("1583466971586889004").
_ID_LOW = 10**15
_ID_SPAN = 9 * 10**18 - _ID_LOW


class EntryKind(enum.Enum):
    """What one item of a ``phone_numbers`` array is."""

    ID = "id"
    E164 = "e164"
    INVALID = "invalid"


def classify(entry: str) -> EntryKind:
    """Digits only is an id, ``+`` and digits an E.164 number, anything else is refused.

    >>> classify("1583466971586889004"), classify("+13127367254"), classify("+1 312 736 7254")
    (<EntryKind.ID: 'id'>, <EntryKind.E164: 'e164'>, <EntryKind.INVALID: 'invalid'>)
    """
    if _ID.fullmatch(entry):
        return EntryKind.ID
    if _E164.fullmatch(entry):
        return EntryKind.E164
    return EntryKind.INVALID


def is_e164_syntax(text: str) -> bool:
    """``+`` then 2 to 15 digits, the first not 0."""
    return _E164.fullmatch(text) is not None


def stable_id(phone_number: str) -> str:
    """The number's id: a BLAKE2b hash of the number mapped onto 16-19 digits.

    Stable across runs and resets, so a client may keep ids between sandbox sessions.
    """
    digest = blake2b(phone_number.encode(), digest_size=8, person=b"bu-sandbox").digest()
    return str(_ID_LOW + int.from_bytes(digest, "big") % _ID_SPAN)


_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
}


def number_country(phone_number: str) -> str | None:
    """The ISO country of a canonical, valid +E.164 number; None when it is not one.

    This is the hot path of "own all" (every new number passes through it once), so it asks
    libphonenumber for the region first and checks validity for that region only, which is
    what ``is_valid_number`` would do anyway.
    """
    if not is_e164_syntax(phone_number):
        return None
    parsed = _split_e164(phone_number)
    if parsed is None:
        try:
            parsed = phonenumbers.parse(phone_number)
        except phonenumbers.NumberParseException:
            return None
    region = phonenumbers.region_code_for_number(parsed)
    if region is None or not phonenumbers.is_valid_number_for_region(parsed, region):
        return None
    canonical = f"+{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"
    return region if canonical == phone_number else None


def _split_e164(phone_number: str) -> phonenumbers.PhoneNumber | None:
    """The number split at its country code without a full ``parse`` (two thirds of the
    cost); None where ``parse`` must decide (a national number with a leading zero)."""
    digits = phone_number[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if not national or national[0] == "0":
                return None
            return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return None


def number_type(phone_number: str) -> str:
    """The spec's ``phone_number_type`` of a valid number (``local`` unless known otherwise)."""
    parsed = _split_e164(phone_number) or phonenumbers.parse(phone_number)
    return _TYPES.get(phonenumbers.number_type(parsed), "local")
