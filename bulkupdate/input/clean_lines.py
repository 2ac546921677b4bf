"""Runs of clean +E.164 lines, told in C a block of lines at a time.

Most number lists are an export of canonical +E.164 numbers, one a line. Looking at each
line in Python (strip it, check it, key it, count it) costs a few microseconds a line:
more than everything else a run does with the number. A block of lines joined into one
string is matched by one regular expression instead; the run of lines it matches from
the start are numbers the scanner's own fast path would take as they are (``+``, a
country calling code, a first national digit other than 0, and a length the code uses:
see ``Normaliser.is_possible_e164``), with nothing around them to strip.

The expression knows the calling codes met so far (their lengths come from
``phonenumbers``' metadata, loaded per code on first use). A line it does not match goes
the scanner's way, one line, and teaches it that line's code, so a file of one country
is matched from its second line on, and one of many after a line of each.
"""

from __future__ import annotations

import re

from bulkupdate.input.normalise import country_code_of, possible_lengths

# Joined with "|" for every code known. Spaces or tabs around a number are what strip()
# takes away; a line ends with \n, or \r\n, or the block.
_LINE = r"[ \t]*+\+(?:{codes})[ \t]*+(?:\r?\n|\Z)"


class CleanLines:
    """Where the run of clean +E.164 lines from a position of a block ends."""

    __slots__ = ("_codes", "_pattern")

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}  # calling code -> its part of the expression
        self._pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"<CleanLines codes={sorted(self._codes)}>"

    def end(self, block: str, start: int) -> int:
        """The end of the clean lines of ``block`` from ``start`` (``start`` if none)."""
        if self._pattern is None:
            return start
        match = self._pattern.match(block, start)
        return start if match is None else match.end()

    def learn(self, text: str) -> None:
        """Match lines of ``text``'s calling code from now on (a stripped line that the
        expression did not match)."""
        code = country_code_of(text) if text[:1] == "+" else None
        if code is None or code in self._codes:
            return
        # National numbers of each possible length, not starting with a trunk prefix 0.
        national = sorted({n - 1 - len(code) for n in possible_lengths(code)}, reverse=True)
        if not national:
            self._codes[code] = ""  # nothing of this code is possible: left to the scanner
            return
        lengths = "|".join(f"[0-9]{{{n - 1}}}" for n in national)
        self._codes[code] = f"{code}[1-9](?:{lengths})"
        parts = "|".join(part for part in self._codes.values() if part)
        # Possessive (*+): what a line matched is never given back to try another way.
        self._pattern = re.compile(f"(?:{_LINE.format(codes=parts)})*+")
