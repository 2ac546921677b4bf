"""Number files: one +E.164 number per line, and ``--provision`` which writes them.

Blank lines and ``#`` comments are skipped. An inventory file may also give a number the
settings it starts with, as a JSON object on its line (``read_inventory``). Provisioned
numbers are valid US numbers picked by a seeded hash (BLAKE2b of ``seed:provision:i``), so
the same ``--seed`` provisions the same numbers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.sandbox import presets
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


def read_inventory(
    path: str | os.PathLike[str],
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The numbers of an inventory file, and the settings some of them start with.

    A line is a number, or a JSON object with ``phone_number`` and settings (see
    ``presets.py``): ``{"phone_number": "+13125550100", "connection_id": "7", "tags": ["a"]}``.
    ``ValueError`` names the first bad line.
    """
    numbers: list[str] = []
    settings: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            text = line.strip()
            if not text.startswith("{"):
                text = text.split("#", 1)[0].strip()
                if not text:
                    continue
                if not is_e164_syntax(text):
                    raise ValueError(f"{path}:{line_no}: {text!r} is not a +E.164 number")
                numbers.append(text)
                continue
            try:
                found = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: not a JSON object ({exc})") from None
            number = found.pop("phone_number", None) if isinstance(found, dict) else None
            if not isinstance(number, str) or not is_e164_syntax(number):
                raise ValueError(f"{path}:{line_no}: needs a +E.164 phone_number")
            problem = next(presets.problems(number, found), None)
            if problem is not None:
                raise ValueError(f"{path}:{line_no}: {problem}")
            numbers.append(number)
            if found:
                settings[number] = found
    return numbers, settings


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
