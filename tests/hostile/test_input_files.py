"""Hostile input files: what is in them, how they are encoded, how they are compressed.

Every case runs the real command against the sandbox in another process (see
``world.py`` for what each case holds the outcome to). Big inputs are made cheaply: a
sparse file of NUL bytes costs no disk, a gzip bomb is one compressed block repeated as
gzip members, a gigabyte line is streamed into stdin.
"""

from __future__ import annotations

import gzip
import os
import random
import threading
from collections.abc import Iterator

from tests.hostile.world import World

GOOD = "+13125550100"
MIB = 1024 * 1024


def gzip_members(block: bytes, times: int) -> bytes:
    """``block`` repeated ``times`` once decompressed, compressed only once."""
    return gzip.compress(block, compresslevel=1) * times


# -- files -------------------------------------------------------------------------------


def test_a_directory_given_as_the_input(world: World) -> None:
    (world.folder / "numbers").mkdir()
    outcome = world.update("numbers")
    world.check(outcome, code=2, says=r"^bulkupdate: error: numbers: is a directory")


def test_an_input_that_does_not_exist(world: World) -> None:
    outcome = world.update("missing.txt")
    world.check(outcome, code=2, says=r"missing\.txt: cannot be read \(No such file")


def test_an_input_that_is_a_symlink_loop(world: World) -> None:
    os.symlink("loop.txt", world.folder / "loop.txt")
    outcome = world.update("loop.txt")
    world.check(outcome, code=2, says=r"loop\.txt: cannot be read \(Too many levels")


def test_an_input_named_with_escape_sequences(world: World) -> None:
    outcome = world.update("\x1b]0;owned\x07\x1b[2J.txt")
    world.check(outcome, code=2, says=r"\\x1b\]0;owned\\x07\\x1b\[2J\.txt: cannot be read")


def test_an_input_named_with_bytes_that_are_not_utf8(world: World) -> None:
    name = os.fsdecode(b"n\xffmbers.txt")
    world.file(name, GOOD + "\n")
    outcome = world.update(name)
    world.check(outcome, code=2, says=r"input n\\udcffmbers\.txt: holds bytes that are not UTF-8")


def test_an_empty_input(world: World) -> None:
    world.file("empty.txt")
    outcome = world.update("empty.txt")
    world.check(outcome, code=0, says=r"run finished in .*: 0 entries \(exit 0\)", alone=False)


def test_random_binary_junk(world: World) -> None:
    junk = random.Random(7).randbytes(64 * 1024)
    world.file("junk.bin", junk)
    outcome = world.dry("junk.bin")
    world.check(outcome, code=1, says=r"^  rejected: +\d+", stream="out")


def test_a_file_of_nul_bytes(world: World) -> None:
    with (world.folder / "zeros.txt").open("wb") as file:
        file.truncate(128 * MIB)  # sparse: reads as NUL bytes, costs no disk
    outcome = world.dry("zeros.txt")
    world.check(
        outcome, code=1, says=r"zeros\.txt:1: line too long: 134,217,728 bytes", stream="out"
    )


def test_a_gigabyte_line_on_stdin(world: World) -> None:
    def feed() -> Iterator[bytes]:
        block = b"9" * MIB
        for _ in range(1024):
            yield block
        yield f"\n{GOOD}\n".encode()

    outcome = world.update("-", stdin=feed())
    world.check(
        outcome, code=1, says=r"<stdin>:1: line too long: 1,073,741,824 bytes", requests=None
    )


def test_a_long_line_between_good_numbers(world: World) -> None:
    world.file("numbers.txt", f"{GOOD}\n{'7' * (200 * 1024)}\n+13125550101\n")
    outcome = world.update("numbers.txt")
    world.check(
        outcome, code=1, says=r"numbers\.txt:2: line too long: 204,800 bytes", requests=None
    )
    assert "2 succeeded" in outcome.err


def test_a_named_pipe_is_read_once_and_whole(world: World) -> None:
    fifo = world.folder / "numbers.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as pipe:
            pipe.write("".join(f"+1312{2_000_000 + n:07d}\n" for n in range(50)))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    outcome = world.update(str(fifo))
    writer.join(timeout=10)
    world.check(outcome, code=0, says=r": 50 entries, 50 succeeded", requests=None, alone=False)


def test_a_csv_with_an_unclosed_quote(world: World) -> None:
    swallowed = ("x" * 50_000 + "\n") * 4  # inside the quote: one record, running on
    rows = "".join(f"+1312{2_000_000 + n:07d},x\n" for n in range(20))
    world.file("list.csv", f'phone_number,note\n{GOOD},"never closed\n{swallowed}{rows}')
    outcome = world.update("list.csv")
    world.check(
        outcome, code=1, says=r"list\.csv:\d+: not valid CSV: a CSV record over", requests=None
    )


def test_a_csv_header_with_escape_sequences_and_no_number_column(world: World) -> None:
    world.file("list.csv", f"name,\x1b[31mred\x1b[0m\nshop,{GOOD}\n")
    outcome = world.update("list.csv")
    world.check(outcome, code=2, says=r"cannot tell which column .*\\x1b\[31mred\\x1b\[0m")


def test_a_csv_column_that_is_not_there(world: World) -> None:
    world.file("list.csv", f"phone_number\n{GOOD}\n")
    outcome = world.update("list.csv", "--column", "did\x07")
    world.check(outcome, code=2, says=r"no column 'did\\x07'; the header has: phone_number")


def test_json_lines_nested_thousands_deep(world: World) -> None:
    deep = "[" * 30_000 + "]" * 30_000  # under the line limit, past any JSON parser's stack
    world.file("list.jsonl", f'{deep}\n{{"phone_number": "{GOOD}"}}\n')
    outcome = world.update("list.jsonl")
    world.check(outcome, code=1, says=r"list\.jsonl:1: not valid JSON", requests=None)


def test_json_lines_with_numbers_json_cannot_hold(world: World) -> None:
    world.file("list.jsonl", '{"id": 1' + "0" * 5000 + "}\n" + '{"phone_number": 1e999}\n')
    outcome = world.dry("list.jsonl")
    world.check(outcome, code=1, says=r"list\.jsonl:1: not valid JSON", stream="out")


# -- encodings ---------------------------------------------------------------------------


def test_bytes_that_are_not_utf8(world: World) -> None:
    world.file("numbers.txt", f"{GOOD}\n+1312\xff\xfe5550101\n".encode("latin-1"))
    outcome = world.update("numbers.txt")
    world.check(
        outcome, code=1, says="numbers\\.txt:2: .*'\\+1312\ufffd\ufffd5550101'", requests=None
    )


def test_utf16_with_a_byte_order_mark_as_excel_writes_it(world: World) -> None:
    world.file("excel.txt", f"{GOOD}\r\n+13125550101\r\n".encode("utf-16"))
    outcome = world.update("excel.txt")
    world.check(outcome, code=0, says=r"2 entries, 2 succeeded", requests=None, alone=False)


def test_terminal_escape_sequences_in_lines(world: World) -> None:
    world.file("numbers.txt", f"{GOOD}\n\x1b]0;owned\x07\x1b[2J\x1b[31m+13125550101\n\x9b2J\n")
    outcome = world.update("numbers.txt", "--report", "report.jsonl")
    world.check(outcome, code=1, says=r"numbers\.txt:2: .*\\x1b\]0;owned\\x07", requests=None)
    report = (world.folder / "report.jsonl").read_text()
    assert "\x1b" not in report
    assert "\x9b" not in report
    assert "\\\\x1b]0;owned" in report  # escaped, then JSON-escaped


def test_a_right_to_left_override_inside_a_number(world: World) -> None:
    world.file("numbers.txt", "+1312\u202e5550100\n")
    outcome = world.dry("numbers.txt")
    world.check(outcome, code=1, says=r"numbers\.txt:1: .*'\+1312\\u202e5550100'", stream="out")


def test_superscript_digits_that_look_like_an_id(world: World) -> None:
    world.file("numbers.txt", "²" * 20 + "\n")
    outcome = world.dry("numbers.txt")
    world.check(outcome, code=1, says=r"numbers\.txt:1: not a phone number", stream="out")


def test_an_id_of_five_thousand_digits(world: World) -> None:
    world.file("numbers.txt", "7" * 5000 + "\n")
    outcome = world.dry("numbers.txt")
    world.check(
        outcome, code=1, says=r"numbers\.txt:1: too long for a number or an id", stream="out"
    )


def test_arabic_indic_digits_read_as_ids(world: World) -> None:
    world.file("ids.txt", "١٥٨٣٤٦٦٩٧١٥٨٦٨٨٩٠٠٤\n")
    outcome = world.dry("ids.txt", "--ids")
    world.check(outcome, code=1, says=r"ids\.txt:1: not a phone-number id", stream="out")


# -- compression -------------------------------------------------------------------------


def test_a_gzip_bomb(world: World) -> None:
    world.file("numbers.txt.gz", gzip_members(b"\0" * (16 * MIB), 8))  # 128 MiB
    outcome = world.update("numbers.txt.gz")
    world.check(outcome, code=1, says=r"numbers\.txt\.gz:1: line too long: 134,217,728 bytes")
    assert (world.folder / "numbers.txt.gz").stat().st_size < 2 * MIB


def test_a_gzip_that_stops_short(world: World) -> None:
    body = "".join(f"+1312{2_000_000 + n:07d}\n" for n in range(600)).encode()
    world.file("numbers.txt.gz", gzip.compress(body)[:-100])
    outcome = world.update("numbers.txt.gz")
    world.check(
        outcome, code=1, says=r"numbers\.txt\.gz:\d+: cannot read past this line", requests=None
    )


def test_a_gzip_whose_checksum_is_wrong(world: World) -> None:
    data = bytearray(gzip.compress(f"{GOOD}\n".encode()))
    data[-8] ^= 0xFF  # the CRC-32 of the content
    world.file("numbers.gz", bytes(data))
    outcome = world.update("numbers.gz")
    world.check(
        outcome, code=1, says=r"numbers\.gz:\d+: cannot read past this line .*CRC", requests=None
    )


def test_gzip_magic_bytes_then_garbage(world: World) -> None:
    world.file("numbers.gz", b"\x1f\x8b" + random.Random(3).randbytes(4096))
    outcome = world.dry("numbers.gz")
    world.check(outcome, code=1, says=r"numbers\.gz:1: cannot read past this line", stream="out")
