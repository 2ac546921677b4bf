"""Reading states back a segment at a time: the same states, counts and report as a model
that follows every number one by one."""

from __future__ import annotations

import io
import tempfile
from collections import Counter
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.escaping import printable_json
from bulkupdate.runs.journal import Journal
from bulkupdate.runs.status_and_report import write_report

ERROR = {"code": "10007", "detail": "An unexpected error occured."}
FATES = ("succeeded", "failed", "retrying", "skipped")


def value(n: int) -> str:
    # Mostly numbers, now and then an id: a chunk may mix them.
    return str(1583466971586889000 + n) if n % 7 == 3 else f"+1312555{n:04d}"


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    jobs=st.lists(
        st.tuples(
            st.integers(0, 4),
            st.integers(1, 2),
            st.integers(1, 9),
            st.lists(st.sampled_from(FATES)),
        ),
        max_size=6,
    ),
    end=st.sampled_from(["running", "settled"]),
)
def test_counts_and_report_follow_every_number(
    chunks: list[int], jobs: list[tuple[int, int, int, list[str]]], end: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal.create(Path(folder, "run.journal"), {})
        state: dict[str, str] = {}
        read = 0
        for size in chunks:
            values = [value(n) for n in range(read, read + size)]
            journal.read(values, [], [])
            state.update(dict.fromkeys(values, "queued"))
            read += size
        for number, (skip, step, size, fates) in enumerate(jobs):
            # Numbers that may go (queued or retrying), consecutive or not.
            free = [v for v, s in state.items() if s in ("queued", "retrying")][skip::step][:size]
            if not free:
                continue
            job_id = f"job-{number}"
            journal.posted(
                journal.posting("update", free, "2026-01-01T00:00:00Z"), job_id, "x", free
            )
            state.update(dict.fromkeys(free, "submitted"))
            if end == "running" and number == len(jobs) - 1:
                break
            fate = {v: fates[i] if i < len(fates) else "succeeded" for i, v in enumerate(free)}
            journal.settled(
                job_id,
                "completed",
                [v for v in free if fate[v] == "succeeded"],
                [(v, [ERROR]) for v in free if fate[v] == "failed"],
                [(v, [ERROR]) for v in free if fate[v] == "retrying"],
                [v for v in free if fate[v] == "skipped"],
            )
            state.update(fate)

        counts = journal.counts()
        expected = Counter(state.values())
        assert {k: v for k, v in counts.items() if v} == dict(expected)
        rows = list(journal.report_rows())
        assert [row.get("phone_number") or row.get("id") for row in rows] == list(state)
        assert [row["status"] for row in rows] == list(state.values())
        out = io.BytesIO()
        assert write_report(journal, out, "jsonl") == len(state)
        assert out.getvalue() == b"".join(
            printable_json(row, orjson.OPT_APPEND_NEWLINE) for row in rows
        )
        journal.close()
