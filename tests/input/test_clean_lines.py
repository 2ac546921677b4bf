"""Clean +E.164 lines taken a run at a time: the same entries, rejections, repeats and
counts as reading the file a line at a time."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.input.clean_lines import CleanLines
from bulkupdate.input.dedupe import SeenSet
from bulkupdate.input.normalise import Normaliser, Rejected
from bulkupdate.input.scan import Scanner

# Lines a number list holds, clean and not: numbers of two countries, a trunk 0 the
# normaliser moves, lengths no country uses, spaces, blanks, comments, ids, garbage.
LINES = st.sampled_from(
    [
        "+13127367254",
        "+13127367255",
        "+13125550100",
        "+442071838750",
        "+447400123456",
        "+4402071838750",
        "+1312736725",
        "+999123456",
        "  +13127367256\t",
        "",
        "   ",
        "# a comment",
        "1583466971586889004",
        "(312) 736-7257",
        "not a number",
        "+1312736725x",
    ]
)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


Found = tuple[list[str], list[tuple[int, str]], list[tuple[int, str]]]


def line_by_line(lines: list[str], normaliser: Normaliser) -> Found:
    """What a scan of ``lines`` must find: each stripped line normalised, in order."""
    values: list[str] = []
    rejected: list[tuple[int, str]] = []
    repeats: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text[0] == "#":
            continue
        try:
            value = normaliser(text)
        except Rejected as exc:
            rejected.append((number, str(exc)))
            continue
        if value in seen:
            repeats.append((number, value))
        else:
            seen.add(value)
            values.append(value)
    return values, rejected, repeats


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(LINES, ENDINGS), max_size=60), st.integers(1, 9), st.booleans())
def test_runs_of_clean_lines_are_read_as_each_line_would_be(
    lines: list[tuple[str, str]], chunk_size: int, last_ending: bool
) -> None:
    text = "".join(line + ending for line, ending in lines)
    if lines and not last_ending:
        text = text.rstrip("\r\n")
    normaliser = Normaliser(default_region="US")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "numbers.txt")
        path.write_bytes(text.encode())
        scanner = Scanner(normaliser, chunk_size=chunk_size)
        chunks = list(scanner.scan_paths([str(path)]))
    expected = line_by_line(text.splitlines(), normaliser)
    assert [v for c in chunks for v in c.values] == expected[0]
    assert [(r.line, r.reason) for c in chunks for r in c.rejections] == expected[1]
    assert [(d.line, d.value) for c in chunks for d in c.duplicates] == expected[2]
    assert all(len(c.values) + len(c.rejections) + len(c.duplicates) <= chunk_size for c in chunks)
    counts = scanner.counts
    values, rejected, repeats = expected
    assert (counts.valid, counts.rejected, counts.duplicates) == (
        len(values),
        len(rejected),
        len(repeats),
    )
    assert counts.entries == len(values) + len(rejected) + len(repeats)


def test_a_run_is_matched_once_its_calling_code_is_known() -> None:
    clean = CleanLines()
    block = "+13127367254\n+13127367255\r\n+442071838750\n"
    assert clean.end(block, 0) == 0  # nothing learnt yet
    clean.learn("+13127367254")
    assert clean.end(block, 0) == block.index("+44")
    clean.learn("+442071838750")
    assert clean.end(block, 0) == len(block)
    clean.learn("+4402071838750")  # a trunk 0 is the normaliser's to place
    assert clean.end("+4402071838750\n", 0) == 0


def test_a_run_of_numbers_is_seen_as_a_whole_or_not_at_all() -> None:
    seen = SeenSet()
    assert seen.add_new(["+13127367254", "+13127367255"])
    assert not seen.add_new(["+13125550100", "+13127367255"])  # one seen before
    assert not seen.add_new(["+13125550100", "+13125550100"])  # one twice
    assert not seen.add_new(["+13125550101", "+13125550102", "+13125550101"])
    assert "+13125550100" not in seen
    assert "+13125550102" not in seen
    assert "+13127367254" in seen
    assert len(seen) == 2


def test_ids_only_rejects_a_number_written_as_e164(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("+13127367254\n1583466971586889004\n")
    (chunk,) = Scanner(Normaliser(ids_only=True)).scan_paths([str(path)])
    assert chunk.values == ["1583466971586889004"]
    assert [r.line for r in chunk.rejections] == [1]
