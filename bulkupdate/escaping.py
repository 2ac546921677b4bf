"""Untrusted text made safe to show: on a terminal, in a log, in a report, in a spreadsheet.

Input files, file names and the server's answers can hold control characters: an escape
sequence can recolour, retitle or rewrite a terminal, a newline can forge a log line, a
NUL can cut a line short. Everything the command writes that came from outside passes
through here first. Every character Python does not consider printable (controls,
format characters such as bidirectional overrides, line and paragraph separators,
unassigned code points) is written as an escape, as Python writes them: ``\\n``,
``\\x1b``, ``\\u202e``. Backslashes are left alone, so ``C:\\numbers.txt`` still reads as
itself.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a
tab or carriage return) as a formula; ``spreadsheet_cell`` neutralises one by putting
``'`` in front, except a well-formed +E.164 number, which stays exactly as it is.

>>> printable("+1312\\x1b[2J555")
'+1312\\\\x1b[2J555'
>>> spreadsheet_cell('=HYPERLINK("http://x")'), spreadsheet_cell("+13125550100")
('\\'=HYPERLINK("http://x")', '+13125550100')
"""

from __future__ import annotations

import re
from typing import Any

import orjson

ELLIPSIS = "…"
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_FORMULA_STARTS = frozenset("=+-@\t\r")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with every non-printable character escaped; cut to ``limit`` characters."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + ELLIPSIS
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def printable_lines(text: str) -> str:
    """Like ``printable``, but the line breaks of a message of several lines stay."""
    if text.isprintable():
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


def printable_data(value: Any) -> Any:
    """JSON-like data with every string in it (keys too) made ``printable``."""
    if isinstance(value, str):
        return value if value.isprintable() else printable(value)
    if isinstance(value, dict):
        return {printable_data(key): printable_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable_data(item) for item in value]
    return value


def printable_json(record: dict[str, Any], option: int = 0) -> bytes:
    """``record`` as JSON (orjson, with ``option``), every string in it ``printable``.

    orjson writes control characters below U+0020 as ``\\u00XX`` and everything else
    outside ASCII as UTF-8, so JSON that is pure ASCII without a backslash or a DEL holds
    nothing to escape: the rows of a report are checked, not rebuilt, which keeps a
    million of them under a second of extra work.
    """
    data = orjson.dumps(record, option=option)
    if data.isascii() and data.find(b"\\") < 0 and data.find(b"\x7f") < 0:
        return data
    return orjson.dumps(printable_data(record), option=option)


def spreadsheet_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet will run as a formula."""
    first = text.lstrip(" ")[:1]
    if first and first in _FORMULA_STARTS and not _E164.fullmatch(text):
        return "'" + text
    return text


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
