"""Reading input with bounded memory: long lines, runaway CSV records, odd encodings, ids."""

from __future__ import annotations

import doctest
import gzip
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bulkupdate.input.line_guard as line_guard_module
import bulkupdate.input.lines as lines_module
from bulkupdate.errors import InputFileError
from bulkupdate.input.line_guard import LineGuard
from bulkupdate.input.lines import (
    MAX_LINE,
    CsvLines,
    LongLine,
    RecordTooLong,
    bounded_lines,
    line_blocks,
)
from bulkupdate.input.normalise import MAX_ID_DIGITS, Normaliser, Rejected
from bulkupdate.input.number_streams import NumberFiles
from bulkupdate.input.scan import Chunk, Scanner


def text(data: str) -> io.StringIO:
    return io.StringIO(data, newline="")


def utf8_file(data: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data.encode()), encoding="utf-8", newline="")


def scan(path: Path, **options: object) -> tuple[list[str], Chunk]:
    merged = Chunk()
    scanner = Scanner(Normaliser(default_region="US"), **options)  # type: ignore[arg-type]
    for chunk in scanner.scan_paths([str(path)]):
        merged.values += chunk.values
        merged.rejections += chunk.rejections
        merged.duplicates += chunk.duplicates
    return merged.values, merged


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(lines_module).failed == 0
    assert doctest.testmod(line_guard_module).failed == 0


def guarded(data: bytes, limit: int) -> tuple[list[str], list[LongLine]]:
    long_lines: list[LongLine] = []
    reader = io.BufferedReader(LineGuard(io.BytesIO(data), long_lines, limit=limit))
    text = io.TextIOWrapper(reader, encoding="utf-8", newline="")
    return list(text), long_lines


LINE = st.lists(st.sampled_from(["a", "b", "é"]), max_size=14).map("".join)
BREAK = st.sampled_from(["\n", "\r\n", "\r"])


@given(st.lists(st.tuples(LINE, BREAK), max_size=12), LINE)
def test_the_guard_passes_short_lines_and_blanks_long_ones(
    lines: list[tuple[str, str]], last: str
) -> None:
    limit = 8  # bytes; blocks are as big, so lines fall across them every way
    data = ("".join(line + end for line, end in lines) + last).encode()
    got, long_lines = guarded(data, limit)
    # What a text reader makes of the original, long lines blanked.
    expected, noted = [], []
    plain = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    for number, line in enumerate(plain, 1):
        content = line.rstrip("\r\n")
        if len(content.encode()) > limit:
            noted.append((number, len(content.encode())))
            if len(line) > len(content):
                expected.append(" " + line[len(content) :])
        else:
            expected.append(line)
    assert got == expected
    assert [(long.line, long.length) for long in long_lines] == noted


# Characters str.splitlines() breaks at and a text reader does not, among others.
ODD = ["\v", "\x1c", "\x85", "\u2028"]
ANY_LINE = st.text(st.sampled_from(["a", "+", "1", " ", *ODD]), max_size=9)


@given(st.lists(st.tuples(ANY_LINE, BREAK), max_size=40), ANY_LINE, st.integers(1, 7))
def test_line_blocks_are_the_lines_a_text_reader_gives(
    lines: list[tuple[str, str]], last: str, size: int
) -> None:
    data = "".join(line + end for line, end in lines) + last
    expected = list(text(data))
    # Pieces end in every place: mid-line, between \r and \n. The file reader is iterated
    # for its first line and read after it, as the scanner does.
    for read_size, opened in itertools.product((1, 2, 5, 1024), (text, utf8_file)):
        stream = opened(data)
        first = next(stream, "")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(lines_module, "READ_SIZE", read_size)
            blocks = list(line_blocks(stream, size, first))
        assert [line for block in blocks for line in block] == expected
        assert all(len(block) == size for block in blocks[:-1])
        assert all(0 < len(block) <= size for block in blocks)


class FailingAfter(io.StringIO):
    """A text stream whose reads fail once ``good`` characters are read."""

    def __init__(self, data: str, good: int) -> None:
        super().__init__(data, newline="")
        self.good = good

    def read(self, size: int | None = -1) -> str:
        if self.tell() >= self.good:
            raise EOFError("compressed file ended before the end-of-stream marker")
        return super().read(min(size if size is not None and size >= 0 else 1 << 30, 6))


def test_a_read_error_comes_after_the_lines_read_before_it() -> None:
    stream = FailingAfter("".join(f"+1312555{n:04d}\n" for n in range(10)), good=40)
    blocks = line_blocks(stream, 2, "")
    # 42 characters were read (7 reads of 6): three whole lines; the fourth was cut.
    assert next(blocks) == ["+13125550000\n", "+13125550001\n"]
    assert next(blocks) == ["+13125550002\n"]
    with pytest.raises(EOFError):
        next(blocks)


class CountingReads(io.StringIO):
    def __init__(self, data: str) -> None:
        super().__init__(data, newline="")
        self.reads = 0

    def read(self, size: int | None = -1) -> str:
        self.reads += 1
        return super().read(size)


def test_a_long_line_is_read_in_a_few_growing_reads() -> None:
    long = "9" * (MAX_LINE - 1) + "\n"
    stream = CountingReads(long * 3 + "+13125550100\n")
    lines = [line for block in line_blocks(stream, 4) for line in block]
    assert lines == [long, long, long, "+13125550100\n"]
    # Reads of 1024 characters would be 64 a line, each copying and searching what was
    # held of the line: 64 times its length. Growing with it, a handful.
    assert stream.reads <= 3 * 10


def test_lines_of_another_reader_come_in_blocks_and_keep_those_before_an_error() -> None:
    def lines() -> Iterator[str]:
        yield from ["b\n", "c\n", "d\n"]
        raise EOFError("cut short")

    blocks = line_blocks(lines(), 2, "a\n")
    assert next(blocks) == ["a\n", "b\n"]
    assert next(blocks) == ["c\n", "d\n"]
    with pytest.raises(EOFError):
        next(blocks)
    assert list(line_blocks(iter(["b\n"]), 2, "a\n")) == [["a\n", "b\n"]]
    assert list(line_blocks(iter([]), 2)) == []


def test_a_line_break_split_across_blocks_counts_once() -> None:
    # \r ends one block, \n starts the next: one break, as a text reader counts it.
    got, long_lines = guarded(b"abcdefg\r\n" + b"x" * 20 + b"\nok\n", limit=8)
    assert got == ["abcdefg\r\n", " \n", "ok\n"]
    assert [(long.line, long.length) for long in long_lines] == [(2, 20)]


def test_skipping_a_long_line_decodes_none_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real = io.TextIOWrapper

    class Counting(io.BufferedReader):
        def read1(self, size: int = -1) -> bytes:
            data = super().read1(size)
            decoded.append(len(data))
            return data

    long_lines: list[LongLine] = []
    data = b"+13125550100\n" + b"9" * (50 * MAX_LINE) + b"\n+13125550101\n"
    reader = Counting(LineGuard(io.BytesIO(data), long_lines))
    lines = [line.strip() for line in real(reader, encoding="utf-8", newline="")]
    assert lines == ["+13125550100", "", "+13125550101"]
    assert sum(decoded) < 100  # the long line never reached the decoder


def test_a_long_line_comes_out_empty_and_is_noted_with_its_number() -> None:
    long_lines: list[LongLine] = []
    data = "a\n" + "x" * (MAX_LINE + 5) + "\r\nb\r\n"
    got = list(bounded_lines(text(data), long_lines, limit=MAX_LINE))
    assert got == ["a\n", "\n", "b\r\n"]
    assert long_lines == [LongLine(2, "x" * 100, MAX_LINE + 5, "characters")]


def test_a_line_of_exactly_the_limit_is_read_whole() -> None:
    long_lines: list[LongLine] = []
    data = "y" * 10 + "\n" + "z" * 11
    assert list(bounded_lines(text(data), long_lines, limit=10)) == ["y" * 10 + "\n", "\n"]
    assert [(long.line, long.length) for long in long_lines] == [(2, 11)]


def test_skipping_a_long_line_reads_it_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    stream = text("q" * 5000 + "\nok\n")
    real = stream.readline

    def readline(size: int = -1) -> str:
        asked.append(size)
        return real(size)

    monkeypatch.setattr(stream, "readline", readline)
    monkeypatch.setattr(lines_module, "PIECE", 1000)
    long_lines: list[LongLine] = []
    assert list(bounded_lines(stream, long_lines, limit=100)) == ["\n", "ok\n"]
    assert all(0 < size <= 1000 for size in asked)  # never "the whole line"
    assert long_lines[0].length == 5000


def test_csv_lines_stop_a_record_that_runs_on() -> None:
    third = "x" * (lines_module.MAX_RECORD // 3) + "\n"
    counted = CsvLines(iter(["header\n", *[third] * 5]))
    next(counted)
    counted.record_read()
    next(counted)
    next(counted)
    with pytest.raises(RecordTooLong, match="from line 2 to 4"):
        next(counted)
    assert next(counted) == third  # the next record starts afresh
    assert counted.line == 5


def test_a_long_line_is_rejected_where_it_stands_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("+13127367254\n" + "7" * (MAX_LINE * 3) + "\n+13127367255\n")
    values, chunk = scan(path)
    assert values == ["+13127367254", "+13127367255"]
    (rejection,) = chunk.rejections
    assert rejection.line == 2
    assert f"{MAX_LINE * 3:,} bytes" in rejection.reason
    assert rejection.raw.startswith("777")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_long_lines_in_csv_and_jsonl_are_rejected_too(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"numbers{suffix}"
    good = "+13127367254" if suffix == ".csv" else '{"phone_number": "+13127367254"}'
    header = "phone_number\n" if suffix == ".csv" else ""
    path.write_text(header + "z" * (MAX_LINE + 1) + "\n" + good + "\n")
    values, chunk = scan(path)
    assert values == ["+13127367254"]
    assert [(r.line, r.reason.split(":")[0]) for r in chunk.rejections] == [
        (1 + bool(header), "line too long")
    ]


def test_a_gzip_bomb_is_one_long_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.txt.gz"
    zeros = gzip.compress(b"\0" * (4 * MAX_LINE))
    path.write_bytes(zeros + gzip.compress(b"\n+13127367254\n"))  # two gzip members
    values, chunk = scan(path)
    assert values == ["+13127367254"]
    assert chunk.rejections[0].line == 1
    assert f"{4 * MAX_LINE:,} bytes" in chunk.rejections[0].reason


def test_an_unclosed_csv_quote_is_one_rejected_record_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "open.csv"
    rows = "".join(f"+1312{2_000_000 + i:07d},x\n" for i in range(15_000))
    path.write_text('phone_number,note\n+13127367254,"never closed\n' + rows)
    values, chunk = scan(path)
    (rejection,) = chunk.rejections
    assert "not valid CSV" in rejection.reason
    assert "from line 2 to" in rejection.reason
    assert 0 < len(values) < 15_000  # the rows after the runaway record are read


def test_a_header_that_cannot_be_read_is_an_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text('"phone_number\n' + "x\n" * 100_000)
    with pytest.raises(InputFileError, match="header row cannot be read"):
        scan(path)


def test_files_checked_up_front_include_their_csv_header(tmp_path: Path) -> None:
    good = tmp_path / "a.txt"
    good.write_text("+13127367254\n")
    bad = tmp_path / "b.csv"
    bad.write_text("name,\x1b[31mred\nshop,1\n")
    with pytest.raises(InputFileError, match=r"b\.csv: cannot tell which column") as caught:
        NumberFiles(str(good), str(bad)).check()
    assert "\x1b" not in str(caught.value)
    assert "\\x1b[31mred" in str(caught.value)


def test_chunks_stay_small_when_every_line_is_rejected_or_repeated(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("nonsense\n" * 25 + "+13127367254\n" * 25)
    scanner = Scanner(chunk_size=10)
    sizes = [len(c.rejections) + len(c.duplicates) for c in scanner.scan_paths([str(path)])]
    assert max(sizes) <= 10
    assert sum(sizes) == 49


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "excel.txt"
    data = "+13127367254\n+13127367255\n"
    bom = {"utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path.write_bytes(bom + data.encode(encoding))
    assert scan(path)[0] == ["+13127367254", "+13127367255"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("²" * 20, "not a phone number"),
        ("١٥٨٣٤٦٦٩٧١٥٨٦٨٨٩٠٠٤", "no country code"),
        ("9" * 5000, "too long for a number or an id"),
    ],
)
def test_entries_that_only_look_like_ids_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        Normaliser()(raw)


def test_ids_only_take_ascii_digits_of_a_sensible_length() -> None:
    ids = Normaliser(ids_only=True)
    assert ids("1" * MAX_ID_DIGITS) == "1" * MAX_ID_DIGITS
    for raw in ("1" * (MAX_ID_DIGITS + 1), "²²²", "١٢٣"):
        with pytest.raises(Rejected, match="digits only"):
            ids(raw)


def test_a_line_break_after_a_block_without_one_counts_in_full() -> None:
    # \r ends a block, the next holds no break at all, the one after starts with \n: the
    # \r and that \n are two breaks, not one, and the long line after them is line 3.
    got, long_lines = guarded(b"abcdefg\r" + b"12345678" + b"\n" + b"x" * 12, limit=8)
    assert got == ["abcdefg\r", "12345678\n"]  # a long last line leaves no blank
    assert [(long.line, long.length) for long in long_lines] == [(3, 12)]
