"""Reading number lists: formats, gzip, stdin, rejections with their place, duplicates."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest

from bulkupdate.errors import InputFileError
from bulkupdate.input.dedupe import SeenSet, number_key
from bulkupdate.input.normalise import Normaliser
from bulkupdate.input.scan import Chunk, Rejection, Scanner
from bulkupdate.input.sources import InputFormat, check_readable


def scan(*paths: Path | str, **options: object) -> tuple[list[str], Chunk, Scanner]:
    scanner = Scanner(Normaliser(default_region="US"), **options)  # type: ignore[arg-type]
    merged = Chunk()
    for chunk in scanner.scan_paths([str(p) for p in paths]):
        merged.values += chunk.values
        merged.rejections += chunk.rejections
        merged.duplicates += chunk.duplicates
    return merged.values, merged, scanner


def test_plain_text_skips_blanks_and_comments_and_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("# migrated from the old carrier\n\n+13127367254\n  \nnot a number\n")
    values, chunk, scanner = scan(path)
    assert values == ["+13127367254"]
    assert chunk.rejections == [Rejection(str(path), 5, "not a number", "not a phone number")]
    assert (scanner.counts.entries, scanner.counts.valid, scanner.counts.rejected) == (2, 1, 1)


def test_messy_formats_and_ids_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("+1 (312) 736-7255\n1-312-736-7256\n(312) 736-7257\n1583466971586889004\n")
    values, _, _ = scan(path)
    assert values == ["+13127367255", "+13127367256", "+13127367257", "1583466971586889004"]


def test_duplicates_are_sent_once_and_recorded_with_their_place(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    second = tmp_path / "b.txt"
    first.write_text("+13127367254\n(312) 736-7254\n")
    second.write_text("+1 312 736 7254\n")
    values, chunk, scanner = scan(first, second)
    assert values == ["+13127367254"]
    assert [(d.source, d.line) for d in chunk.duplicates] == [(str(first), 2), (str(second), 1)]
    assert scanner.counts.duplicates == 2


def test_csv_column_is_detected_from_common_names(tmp_path: Path) -> None:
    path = tmp_path / "inventory.csv"
    path.write_text("name,Phone_Number,notes\nshop,+13127367254,x\nbar,,y\n")
    values, chunk, _ = scan(path)
    assert values == ["+13127367254"]
    assert chunk.rejections == []  # an empty cell is not an entry


def test_csv_with_an_id_column_reads_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id,label\n3388768018273,a\n+13127367254,b\n")
    values, chunk, _ = scan(path)
    assert values == ["3388768018273"]
    assert chunk.rejections[0].line == 3
    assert "digits only" in chunk.rejections[0].reason


def test_column_flag_chooses_the_column(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("phone_number,forward\n+13127367254,+13035559123\n")
    values, _, _ = scan(path, column="Forward")
    assert values == ["+13035559123"]


def test_unknown_column_names_the_header(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputFileError, match=r"two.csv.*--column"):
        scan(path)
    with pytest.raises(InputFileError, match="no column 'c'; the header has: a, b"):
        scan(path, column="c")


def test_short_csv_row_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("name,number\nshop,+13127367254\nlonely\n")
    _, chunk, _ = scan(path)
    assert [(r.line, r.reason) for r in chunk.rejections] == [(3, "no value in column 'number'")]


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "list.tsv"
    path.write_text("number\tnote\n+13127367254\tx\n")
    assert scan(path)[0] == ["+13127367254"]


def test_jsonl_numbers_ids_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text(
        '{"phone_number": "+13127367254"}\n{"id": 3388768018273}\n\n[1]\n{oops\n{"x": 1}\n'
    )
    values, chunk, _ = scan(path)
    assert values == ["+13127367254", "3388768018273"]
    assert [(r.line, r.reason) for r in chunk.rejections] == [
        (4, "not a JSON object"),
        (5, "not valid JSON"),
        (6, "no 'phone_number' or 'id' field"),
    ]


def test_format_is_sniffed_without_an_extension(tmp_path: Path) -> None:
    jsonl = tmp_path / "a.data"
    jsonl.write_text('{"phone_number": "+13127367254"}\n')
    csv = tmp_path / "b.data"
    csv.write_text("number,x\n+13127367255,1\n")
    assert scan(jsonl, csv)[0] == ["+13127367254", "+13127367255"]


def test_input_format_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "weird.csv"
    path.write_text("+13127367254\n")
    assert scan(path, input_format=InputFormat.TEXT)[0] == ["+13127367254"]


def test_gzip_is_recognised_by_magic_bytes_not_name(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"  # no .gz
    path.write_bytes(gzip.compress(b"+13127367254\n+13127367255\n"))
    assert scan(path)[0] == ["+13127367254", "+13127367255"]
    csv = tmp_path / "numbers.csv.gz"
    csv.write_bytes(gzip.compress(b"phone_number\n+13127367256\n"))
    assert scan(csv)[0] == ["+13127367256"]


def test_truncated_gzip_keeps_what_was_read_and_says_where(tmp_path: Path) -> None:
    body = "".join(f"+1312555{i:04d}\n" for i in range(2000)).encode()
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(body)[:-200])
    values, chunk, _ = scan(path)
    assert 0 < len(values) < 2000
    (rejection,) = chunk.rejections
    assert rejection.line == len(values) + 1
    assert "cannot read past this line" in rejection.reason


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(b"+13127367254\n")))
    monkeypatch.setattr(sys, "stdin", stdin)
    values, _, _ = scan("-")
    assert values == ["+13127367254"]
    assert not stdin.closed


def test_gzipped_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BufferedReader(io.BytesIO(gzip.compress(b"+13127367254\n")))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    assert scan("-")[0] == ["+13127367254"]


def test_bom_and_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(b"\xef\xbb\xbf+13127367254\n+1312\xff7367255\n")
    values, chunk, _ = scan(path)
    assert values == ["+13127367254"]
    assert chunk.rejections[0].line == 2


def test_long_raw_text_is_truncated_in_rejections(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("x" * 500 + "\n")
    (rejection,) = scan(path)[1].rejections
    assert len(rejection.raw) == 80
    assert rejection.raw.endswith("…")


def test_chunks_stay_small(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("".join(f"+1312555{i:04d}\n" for i in range(25)))
    scanner = Scanner(chunk_size=10)
    sizes = [len(c.values) for c in scanner.scan_paths([str(path)])]
    assert sizes == [10, 10, 5]


def test_scan_strings_for_library_callers() -> None:
    scanner = Scanner(Normaliser(default_region="US"))
    (chunk,) = scanner.scan_strings(["(312) 736-7254", 42, "+13127367254"])  # type: ignore[list-item]
    assert chunk.values == ["+13127367254"]
    assert [(r.line, r.reason) for r in chunk.rejections] == [(2, "not a string")]
    assert [d.line for d in chunk.duplicates] == [3]


def test_unreadable_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"missing\.txt: cannot be read"):
        check_readable(str(tmp_path / "missing.txt"))
    with pytest.raises(InputFileError, match="is a directory"):
        check_readable(str(tmp_path))
    check_readable("-")


def test_seen_set_keeps_numbers_and_ids_apart() -> None:
    seen = SeenSet()
    assert seen.add("+13127367254")
    assert not seen.add("+13127367254")
    assert seen.add("13127367254")  # an id made of the same digits is another thing
    assert "+13127367254" in seen
    assert len(seen) == 2
    assert number_key("+13127367254") != number_key("13127367254")


def test_an_api_key_pasted_into_a_list_is_redacted_from_its_rejection(tmp_path: Path) -> None:
    key = "KEY0123456789abcdefABCDEF_xyz"
    path = tmp_path / "numbers.txt"
    path.write_text(
        f"{key}\nexport TELNYX_API_KEY={key} # and more text to run past eighty chars\n"
    )
    _, chunk, _ = scan(path)
    assert [r.raw for r in chunk.rejections] == [
        "[redacted]",
        "export TELNYX_API_KEY=[redacted] # and more text to run past eighty chars",
    ]
