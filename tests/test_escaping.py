"""Untrusted text made safe: nothing a terminal acts on, nothing a spreadsheet runs."""

from __future__ import annotations

import doctest
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bulkupdate.escaping as escaping_module
from bulkupdate.engine.outcomes import Outcome
from bulkupdate.escaping import (
    printable,
    printable_data,
    printable_json,
    printable_lines,
    spreadsheet_cell,
)
from bulkupdate.input.scan import Rejection
from bulkupdate.runs.report_sinks import JsonlReport


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(escaping_module).failed == 0


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\nb\rc\td\0", "a\\nb\\rc\\td\\x00"),
        ("\x9b2J", "\\x9b2J"),  # the 8-bit CSI
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # a right-to-left override
        ("line\u2028break", "line\\u2028break"),
        ("C:\\numbers.txt", "C:\\numbers.txt"),
        ("+1 (312) 555-0100 café", "+1 (312) 555-0100 café"),
    ],
)
def test_control_characters_are_written_as_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


@given(st.text())
def test_whatever_comes_in_goes_out_printable(raw: str) -> None:
    assert printable(raw).isprintable()


def test_a_limit_cuts_before_escaping() -> None:
    assert printable("x" * 10, limit=5) == "xxxx…"
    assert printable("\0" * 10, limit=3) == "\\x00\\x00…"


def test_a_message_keeps_its_own_lines() -> None:
    assert printable_lines("first\n  - \x1b[2J\nthird") == "first\n  - \\x1b[2J\nthird"


def test_data_is_cleaned_all_the_way_down() -> None:
    data = {"errors": [{"detail": "\x1b[2J", "meta": {"k\n": ("\x07",)}}], "attempts": 2}
    assert printable_data(data) == {
        "errors": [{"detail": "\\x1b[2J", "meta": {"k\\n": ["\\x07"]}}],
        "attempts": 2,
    }


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "  =1", "+1 312"],
)
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert spreadsheet_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["+13125550100", "+442071838750", "+1312", "1583466971586889004", "", "x"]
)
def test_numbers_and_plain_text_stay_as_they_are(cell: str) -> None:
    assert spreadsheet_cell(cell) == cell


def test_json_is_escaped_only_when_there_is_something_to_escape() -> None:
    clean = {"phone_number": "+13125550100", "errors": [], "note": "café"}
    assert printable_json(clean) == orjson.dumps(clean)
    for hostile in ("\x1b[2J", "\x7f", "\x9b", "\u2028", "a\\u0041"):
        written = orjson.loads(printable_json({"input": hostile}))["input"]
        assert written == printable(hostile)


def test_the_library_report_escapes_too(tmp_path: Path) -> None:
    report = JsonlReport(tmp_path / "report.jsonl")
    report.record(Outcome.rejected(Rejection("a.txt", 1, "\x1b]0;owned\x07", "not a number")))
    report.close()
    text = (tmp_path / "report.jsonl").read_text()
    assert text.isprintable() is False  # the newline
    assert text.rstrip("\n").isprintable()
    assert orjson.loads(text)["input"] == "\\x1b]0;owned\\x07"
