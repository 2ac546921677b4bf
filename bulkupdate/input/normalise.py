"""Turn one raw input string into a +E.164 number or a Telnyx phone-number id.

Most input in a bulk migration is already +E.164, so that case takes a fast path of a few
string operations and two dictionary lookups; only messy input (spaces, punctuation,
national formats) goes through ``phonenumbers``, which costs about 15 µs a number.

Validation checks that a number is *possible* (a known country code and a length the
country uses), which never refuses a number the API would accept. Checking that it is
*valid* against ``phonenumbers``' metadata is optional (``strict``): that metadata lags
newly opened ranges, so strictness can refuse real numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, ValidationResult
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    UNKNOWN_REGION,
    region_code_for_country_code,
)

from bulkupdate.errors import UsageError

# An E.164 number has at most 15 digits, so a longer digits-only string can only be an id.
MAX_E164_DIGITS = 15
# Telnyx's ids are 64-bit integers (19 digits); anything much longer is not one.
MAX_ID_DIGITS = 32

_POSSIBILITY_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "a length its country does not use",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
}


class Rejected(ValueError):
    """A raw entry that is neither a usable number nor an id; ``str()`` is the reason."""


def is_id_text(text: str) -> bool:
    """Whether ``text`` can be a phone-number id: ASCII digits, not too many.

    ``str.isdigit`` alone would let in ``²`` and Arabic-Indic digits, which are no id.

    >>> is_id_text("1583466971586889004"), is_id_text("²²²"), is_id_text("9" * 40)
    (True, False, False)
    """
    return text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS


# Country calling codes as digit strings. Codes form a prefix code (no code starts
# another), so at most one of a number's first 1, 2 or 3 digits is in here.
_COUNTRY_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


def country_code_of(text: str) -> str | None:
    """The calling code a ``+`` number starts with, if it starts with a known one.

    >>> country_code_of("+13127367254"), country_code_of("+442071838750"), country_code_of("+0")
    ('1', '44', None)
    """
    for end in (2, 3, 4):
        code = text[1:end]
        if code in _COUNTRY_CODES:
            return code
    return None


@cache
def possible_lengths(code: str) -> frozenset[int]:
    """The possible lengths of a whole +E.164 string with country calling code ``code``.

    The same lengths ``phonenumbers.is_possible_number`` checks: the general possible
    lengths of the code's main region (or its non-geographic entity). Loaded per code on
    first use: all regions' metadata at once would cost about 27 MB.
    """
    region = region_code_for_country_code(int(code))
    if region == "001":
        metadata = PhoneMetadata.metadata_for_nongeo_region(int(code))
    else:
        metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return frozenset()
    lengths = metadata.general_desc.possible_length or ()
    # +, the country code, then the national number.
    return frozenset(1 + len(code) + n for n in lengths if n > 0)


@dataclass(frozen=True, slots=True)
class Normaliser:
    """Classifies raw strings as +E.164 numbers or ids.

    >>> Normaliser(default_region="US")("(312) 736-7254")
    '+13127367254'
    >>> Normaliser()("1583466971586889004")
    '1583466971586889004'
    """

    default_region: str | None = None
    ids_only: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        if self.default_region is not None:
            region = self.default_region.upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise UsageError(
                    f"--default-region {self.default_region!r} is not a known region; "
                    "use a two-letter ISO country code such as US, GB or DE"
                )
            object.__setattr__(self, "default_region", region)

    def __call__(self, raw: str) -> str:
        """The +E.164 number or id ``raw`` stands for; raises ``Rejected`` with the reason."""
        text = raw.strip()
        if not text:
            raise Rejected("empty")
        if self.ids_only:
            if is_id_text(text):
                return text
            raise Rejected(f"not a phone-number id (ids are digits only, at most {MAX_ID_DIGITS})")
        if text[0] == "+" and text[1:].isdigit() and self.is_possible_e164(text):
            if not self.strict or self._is_valid(text):
                return text
            raise Rejected("not a valid number in phonenumbers' metadata (--strict-numbers)")
        if text.isascii() and text.isdigit() and len(text) > MAX_E164_DIGITS:
            if len(text) > MAX_ID_DIGITS:
                raise Rejected(f"too long for a number or an id ({len(text):,} digits)")
            return text
        return self._parse(text)

    @staticmethod
    def is_possible_e164(text: str) -> bool:
        """Whether ``text`` (``+`` and digits) is a possible number already in canonical form."""
        code = country_code_of(text)
        if code is None:
            return False
        # A national number written with its trunk prefix 0 (+49 0221…) is left to
        # phonenumbers, which knows where the 0 belongs (Italy keeps it).
        return len(text) in possible_lengths(code) and text[1 + len(code)] != "0"

    def _parse(self, text: str) -> str:
        try:
            number = phonenumbers.parse(text, self.default_region)
        except phonenumbers.NumberParseException as exc:
            if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
                if text.startswith("+"):
                    raise Rejected("unknown country code") from None
                raise Rejected(
                    "no country code: write it as +E.164 or give --default-region"
                ) from None
            raise Rejected("not a phone number") from None
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason != ValidationResult.IS_POSSIBLE:
            raise Rejected(_POSSIBILITY_REASONS.get(reason, "not a possible number"))
        if self.strict and not phonenumbers.is_valid_number(number):
            raise Rejected("not a valid number in phonenumbers' metadata (--strict-numbers)")
        e164: str = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        return e164

    @staticmethod
    def _is_valid(e164: str) -> bool:
        number = phonenumbers.parse(e164, UNKNOWN_REGION)
        valid: bool = phonenumbers.is_valid_number(number)
        return valid
