"""Number files: one +E.164 number per line, and ``--provision`` which writes them.

Blank lines and ``#`` comments are skipped. Provisioned numbers are valid US numbers picked
by a seeded hash (BLAKE2b of ``seed:provision:i``), so the same ``--seed`` provisions the same
numbers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bulkupdate.sandbox.dice import Dice
from bulkupdate.sandbox.phone import is_e164_syntax, number_country

# Area codes in service, so libphonenumber accepts the numbers as valid.
_AREA_CODES = (212, 213, 303, 305, 312, 415, 512, 617, 646, 702, 720, 773, 818, 917, 970)


def read_numbers(path: str | os.PathLike[str]) -> list[str]:
    """The numbers in a number file; ``ValueError`` names the first bad line."""
    numbers = []
    with open(path, encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if not is_e164_syntax(text):
                raise ValueError(f"{path}:{line_no}: {text!r} is not a +E.164 number")
            numbers.append(text)
    return numbers


def provision_numbers(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct valid numbers, the same ones for the same seed."""
    dice = Dice(seed)
    chosen: dict[str, None] = {}
    attempt = 0
    while len(chosen) < count:
        area = _AREA_CODES[dice.pick(len(_AREA_CODES), "provision-area", attempt)]
        exchange = 200 + dice.pick(800, "provision-exchange", attempt)
        line = dice.pick(10_000, "provision-line", attempt)
        attempt += 1
        number = f"+1{area}{exchange:03d}{line:04d}"
        if number not in chosen and number_country(number) is not None:
            chosen[number] = None
    return list(chosen)


def write_numbers(numbers: Iterable[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Write a number file; with no path, a new file in the temporary directory."""
    if path is None:
        handle, name = tempfile.mkstemp(prefix="bulkupdate-sandbox-", suffix=".txt")
        os.close(handle)
        path = name
    target = Path(path)
    target.write_text("".join(f"{number}\n" for number in numbers), encoding="utf-8")
    return target
