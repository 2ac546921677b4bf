"""Fresh numbers: a post of the next numbers in order takes its seqs without a lookup,
and the journal records exactly what it records when it looks every number up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bulkupdate.runs.fresh_numbers import FreshNumbers
from bulkupdate.runs.journal import Journal

TRANSIENT = {"code": "10007", "detail": "An unexpected error occured."}
INVALID = {"code": "10015", "detail": "The field is invalid.", "source": {"pointer": "/tags"}}


def numbers(first: int, count: int) -> list[str]:
    return [f"+1312555{n:04d}" for n in range(first, first + count)]


def test_posts_in_order_take_runs_across_chunks_and_others_take_nothing() -> None:
    fresh = FreshNumbers()
    one, two = numbers(0, 5), numbers(5, 5)
    fresh.add(100, one)
    fresh.add(105, two)
    assert fresh.take(one[:3]) == 100
    assert fresh.take(two[:2]) is None  # not the next ones
    assert fresh.take([*one[3:], two[0], "+13125559999"]) is None  # runs off the chunks
    assert fresh.take(numbers(3, 2)) is None  # equal, but not the numbers read
    assert len(fresh) == 7  # nothing was taken by the refusals
    assert fresh.take([*one[3:], two[0]]) == 103
    seqs: dict[str, int] = {}
    fresh.spill(seqs)
    assert seqs == dict(zip(two[1:], range(106, 110), strict=True))
    assert len(fresh) == 0
    assert fresh.take(two[1:]) is None


def run_story(path: Path, *, same_objects: bool) -> list[tuple[object, ...]]:
    """A run's steps, posting the numbers read (``same_objects``, as the pipeline does)
    or equal copies of them (which the journal must look up); what the journal holds."""
    journal = Journal.create(path, {})
    read = numbers(0, 12)
    journal.read(read[:7], [], [])
    journal.read(read[7:], [], [])

    def sent(values: list[str]) -> list[str]:
        return values if same_objects else [value[:1] + value[1:] for value in values]

    first = journal.posting("update", sent(read[0:4]), "2026-01-01")
    journal.posted(first, "job-1", "update", sent(read[0:4]))
    lost = journal.posting("update", sent(read[4:9]), "2026-01-01")  # across the chunks
    journal.post_done(lost)  # refused: its numbers go again
    journal.settled("job-1", "completed", read[0:2], [(read[2], [INVALID])], [], [read[3]])
    again = journal.posting("update", sent(read[4:9]), "2026-01-02")
    journal.posted(again, "job-2", "update", sent(read[4:9]))
    journal.settled("job-2", "completed", read[5:9], [], [(read[4], [TRANSIENT])], [])
    retried = journal.posting("update", [read[4], *sent(read[9:11])], "2026-01-03")
    journal.posted(retried, "job-3", "update", [read[4], *sent(read[9:11])])
    journal.failed([read[11]], [INVALID])
    journal.close()
    db = sqlite3.connect(path)
    try:
        held = [("post", *row) for row in db.execute("SELECT kind, seqs FROM posts")]
        held += [("job", *row) for row in db.execute("SELECT id, size, seqs FROM jobs")]
        held += [("row", *row) for row in db.execute("SELECT * FROM exceptions ORDER BY seq")]
    finally:
        db.close()
    return held


def test_the_journal_records_the_same_whether_or_not_it_looks_numbers_up(
    tmp_path: Path,
) -> None:
    taken = run_story(tmp_path / "taken.journal", same_objects=True)
    looked_up = run_story(tmp_path / "looked-up.journal", same_objects=False)
    assert taken == looked_up
    assert ("job", "job-2", 5, "4-8") in taken
    assert ("job", "job-3", 3, "4,9-10") in taken
