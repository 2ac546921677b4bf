"""The durable record of a run: an SQLite file that makes resume possible.

Every step is written *before* it is taken, each in one transaction, so a crash at any
instant leaves a consistent journal:

* numbers read from the input are **queued**, in input order (``seq``);
* a job POST about to go out is a **post** (its outcome unknown until an answer comes);
* an accepted POST makes a **job**, and its numbers **submitted** in it;
* a job seen to end **settles** its numbers: succeeded, failed (with the API's errors),
  back to **retry**, or skipped;
* numbers failed outside a job (ownership) are **failed** directly.

Rows are keyed by ``seq`` (the integer primary key), so the run's writes are appends and
short ordered updates: about 2.5 s of CPU for a million numbers. The API key is never
written. The file is created with mode 0600; SQLite gives its WAL the same mode.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.errors import UsageError
from bulkupdate.scan import Duplicate, Rejection
from bulkupdate.wire import ErrorObject

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE numbers (
    seq INTEGER PRIMARY KEY,          -- order among the run's distinct valid entries
    value TEXT NOT NULL,              -- +E.164 number or phone-number id
    state INTEGER NOT NULL,           -- NumberState
    attempts INTEGER NOT NULL DEFAULT 0,
    jobs TEXT NOT NULL DEFAULT '',    -- jobs.job of each job it was in, comma-separated
    errors TEXT                       -- JSON list of the API's error objects
);
CREATE TABLE entries (                -- rejected and repeated input entries
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    status TEXT NOT NULL,
    value TEXT,
    raw TEXT,
    reason TEXT,
    PRIMARY KEY (source, line)
) WITHOUT ROWID;
CREATE TABLE jobs (
    job INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    status TEXT                       -- the final status; NULL while the job runs
);
CREATE TABLE posts (                  -- job POSTs sent, their outcome not known yet
    post INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    sent_at TEXT NOT NULL,            -- ISO 8601, UTC
    seqs TEXT NOT NULL                -- the numbers' seqs, comma-separated
);
"""


class NumberState(IntEnum):
    QUEUED = 0
    SUBMITTED = 1
    RETRY = 2
    SUCCEEDED = 3
    FAILED = 4
    SKIPPED = 5

    @property
    def is_final(self) -> bool:
        return self >= NumberState.SUCCEEDED


@dataclass(frozen=True, slots=True)
class InputFingerprint:
    """What an input file was when the run began, to notice if it changes."""

    path: str
    size: int
    sha256: str

    @classmethod
    def of(cls, path: str) -> InputFingerprint:
        import hashlib

        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
                size += len(block)
        return cls(path, size, digest.hexdigest())


@dataclass(slots=True)
class ResumeState:
    """What an unfinished journal says is left to do."""

    values_read: int  # the first values_read distinct valid entries are journaled
    queued: list[str] = field(default_factory=list)
    retry: list[tuple[str, int, list[str], tuple[ErrorObject, ...]]] = field(default_factory=list)
    active_jobs: list[tuple[str, list[str]]] = field(default_factory=list)
    posts: list[tuple[int, str, list[str]]] = field(default_factory=list)  # post, sent_at, values


class Journal:
    """Writes and reads one run's journal. Not thread-safe: one event loop drives it."""

    def __init__(self, path: str | Path, connection: sqlite3.Connection) -> None:
        self.path = str(path)
        self._db = connection
        self._seq: dict[str, int] = {}  # value → seq, for numbers not final yet
        self._job_rows: dict[str, int] = {}  # job id → jobs.job, for jobs running
        self._next_seq = self._scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM numbers")

    def __repr__(self) -> str:
        return f"<Journal {self.path} values={self._next_seq} open={len(self._seq)}>"

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, settings: dict[str, Any]) -> Journal:
        """A new journal at ``path`` (which must not exist), mode 0600."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise UsageError(f"journal {path} already exists") from None
        except OSError as exc:
            raise UsageError(f"journal {path}: cannot be created ({exc.strerror})") from exc
        os.close(fd)
        db = _connect(path)
        with db:
            db.executescript(SCHEMA)
            now = time.time()
            _set_meta(db, "schema", SCHEMA_VERSION)
            _set_meta(db, "settings", settings)
            _set_meta(db, "status", "running")
            _set_meta(db, "started_at", now)
            _set_meta(db, "updated_at", now)
        return cls(path, db)

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """An existing journal, to resume or to read."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"journal {path}: no such file")
        try:
            db = _connect(path)
            version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"journal {path}: not a bulkupdate journal ({exc})") from exc
        if version is None or orjson.loads(version[0]) != SCHEMA_VERSION:
            raise UsageError(f"journal {path}: not a bulkupdate journal of this version")
        journal = cls(path, db)
        journal._load_open_numbers()
        return journal

    def close(self) -> None:
        self._db.close()

    # -- the run's steps -------------------------------------------------------------

    def read(
        self,
        values: Sequence[str],
        rejections: Sequence[Rejection],
        duplicates: Sequence[Duplicate],
    ) -> None:
        """New input: ``values`` queued in order; rejected and repeated entries noted."""
        start = self._next_seq
        self._next_seq += len(values)
        seqs = self._seq
        for offset, value in enumerate(values):
            seqs[value] = start + offset
        with self._db as db:
            db.executemany(
                "INSERT INTO numbers (seq, value, state) VALUES (?, ?, 0)",
                zip(range(start, start + len(values)), values, strict=True),
            )
            if rejections or duplicates:
                db.executemany(
                    "INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        *(
                            (r.source, r.line, "rejected", None, r.raw, r.reason)
                            for r in rejections
                        ),
                        *((d.source, d.line, "duplicate", d.value, None, None) for d in duplicates),
                    ],
                )
            _set_meta(db, "values_read", self._next_seq)

    def posting(self, kind: str, values: Sequence[str], sent_at: str) -> int:
        """A job POST is about to go out: note it, so a lost answer can be looked into."""
        seqs = ",".join(str(self._seq[value]) for value in values)
        with self._db as db:
            cursor = db.execute(
                "INSERT INTO posts (kind, sent_at, seqs) VALUES (?, ?, ?)", (kind, sent_at, seqs)
            )
        post = cursor.lastrowid
        assert post is not None
        return post

    def posted(self, post: int | None, job_id: str, kind: str, values: Sequence[str]) -> None:
        """The POST made job ``job_id`` (or a lost answer's job was found): submitted."""
        with self._db as db:
            cursor = db.execute(
                "INSERT INTO jobs (id, kind, size, created_at) VALUES (?, ?, ?, ?)",
                (job_id, kind, len(values), time.time()),
            )
            row = cursor.lastrowid
            assert row is not None
            self._job_rows[job_id] = row
            tag = str(row)
            db.executemany(
                "UPDATE numbers SET state = 1, attempts = attempts + 1, "
                "jobs = CASE jobs WHEN '' THEN ?1 ELSE jobs || ',' || ?1 END WHERE seq = ?2",
                ((tag, self._seq[value]) for value in values),
            )
            if post is not None:
                db.execute("DELETE FROM posts WHERE post = ?", (post,))

    def post_done(self, post: int) -> None:
        """The POST made no job (refused, or nothing found after a lost answer)."""
        with self._db as db:
            db.execute("DELETE FROM posts WHERE post = ?", (post,))

    def settled(
        self,
        job_id: str,
        status: str,
        succeeded: Iterable[str],
        failed: Iterable[tuple[str, Sequence[ErrorObject]]],
        retry: Iterable[tuple[str, Sequence[ErrorObject]]],
        skipped: Iterable[str],
    ) -> None:
        """A job ended: each of its numbers' new state, in one transaction."""
        seqs = self._seq
        with self._db as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?",
                (status, time.time(), job_id),
            )
            self._job_rows.pop(job_id, None)
            db.executemany(
                "UPDATE numbers SET state = 3, errors = NULL WHERE seq = ?",
                ((seqs.pop(value),) for value in succeeded),
            )
            db.executemany(
                "UPDATE numbers SET state = 4, errors = ? WHERE seq = ?",
                ((orjson.dumps(errors).decode(), seqs.pop(value)) for value, errors in failed),
            )
            db.executemany(
                "UPDATE numbers SET state = 2, errors = ? WHERE seq = ?",
                ((orjson.dumps(errors).decode(), seqs[value]) for value, errors in retry),
            )
            db.executemany(
                "UPDATE numbers SET state = 5 WHERE seq = ?",
                ((seqs.pop(value),) for value in skipped),
            )
            _set_meta(db, "updated_at", time.time())

    def failed(self, values: Iterable[str], errors: Sequence[ErrorObject]) -> None:
        """Numbers failed for good outside any job (e.g. not the account's)."""
        text = orjson.dumps(list(errors)).decode()
        with self._db as db:
            db.executemany(
                "UPDATE numbers SET state = 4, errors = ?, attempts = MAX(attempts, 1) "
                "WHERE seq = ?",
                ((text, self._seq.pop(value)) for value in values),
            )

    def retried(self, values: Iterable[str], errors: Sequence[ErrorObject]) -> None:
        """Numbers back to the retry pool without a job (a lost POST found no job)."""
        text = orjson.dumps(list(errors)).decode()
        with self._db as db:
            db.executemany(
                "UPDATE numbers SET state = 2, errors = ? WHERE seq = ?",
                ((text, self._seq[value]) for value in values),
            )

    def finish(self, status: str, totals: dict[str, int] | None = None) -> None:
        """The run ended (``finished``) or stopped (``interrupted``)."""
        with self._db as db:
            _set_meta(db, "status", status)
            _set_meta(db, "updated_at", time.time())
            if status == "finished":
                _set_meta(db, "finished_at", time.time())
            if totals is not None:
                _set_meta(db, "totals", totals)

    # -- reading ---------------------------------------------------------------------

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else orjson.loads(row[0])

    @property
    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.meta("settings", {})
        return settings

    @property
    def finished(self) -> bool:
        return bool(self.meta("status") == "finished")

    def resume_state(self) -> ResumeState:
        """Everything not final, sorted by what resume must do with it."""
        state = ResumeState(values_read=self._next_seq)
        job_ids = dict(self._db.execute("SELECT job, id FROM jobs WHERE status IS NULL"))
        by_job: dict[str, list[str]] = {}
        in_posts: set[int] = set()
        for post, sent_at, seqs in self._db.execute(
            "SELECT post, sent_at, seqs FROM posts ORDER BY post"
        ):
            numbers = [int(seq) for seq in seqs.split(",") if seq]
            in_posts.update(numbers)
            values = [self._value(seq) for seq in numbers]
            state.posts.append((post, sent_at, values))
        rows = self._db.execute(
            "SELECT seq, value, state, attempts, jobs, errors FROM numbers "
            "WHERE state < 3 ORDER BY seq"
        )
        for seq, value, number_state, attempts, jobs, errors in rows:
            if seq in in_posts:
                continue  # the post's reconciliation decides
            job_rows = [int(job) for job in jobs.split(",") if job]
            if number_state == NumberState.SUBMITTED and job_rows and job_rows[-1] in job_ids:
                by_job.setdefault(job_ids[job_rows[-1]], []).append(value)
            elif number_state == NumberState.QUEUED or (
                number_state == NumberState.SUBMITTED and not job_rows
            ):
                state.queued.append(value)
            else:
                names = self._job_names(job_rows)
                found = tuple(orjson.loads(errors)) if errors else ()
                state.retry.append((value, attempts, names, found))
        state.active_jobs = list(by_job.items())
        return state

    def counts(self) -> dict[str, int]:
        """Numbers by state and entries by status."""
        found = {state.name.lower(): 0 for state in NumberState}
        for number_state, count in self._db.execute(
            "SELECT state, COUNT(*) FROM numbers GROUP BY state"
        ):
            found[NumberState(number_state).name.lower()] = count
        for status, count in self._db.execute("SELECT status, COUNT(*) FROM entries GROUP BY 1"):
            found[status] = count
        return found

    def error_counts(self) -> list[tuple[str, str, str, int]]:
        """Failed numbers by their first error: (code, detail, pointer, count), most first."""
        counts: dict[tuple[str, str, str], int] = {}
        for errors, count in self._db.execute(
            "SELECT errors, COUNT(*) FROM numbers WHERE state = 4 GROUP BY errors"
        ):
            found = orjson.loads(errors) if errors else []
            first = found[0] if found and isinstance(found[0], dict) else {}
            source = first.get("source")
            pointer = source.get("pointer") if isinstance(source, dict) else source
            key = (
                str(first.get("code", "")),
                str(first.get("detail") or first.get("title") or ""),
                str(pointer or ""),
            )
            counts[key] = counts.get(key, 0) + count
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        return [(*key, count) for key, count in ranked]

    def jobs_in_flight(self) -> list[tuple[str, str, int, float]]:
        """Jobs submitted and not seen to end: (id, kind, size, created_at)."""
        return list(
            self._db.execute(
                "SELECT id, kind, size, created_at FROM jobs WHERE status IS NULL ORDER BY job"
            )
        )

    def job_count(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM jobs")

    def report_rows(self) -> Iterator[dict[str, Any]]:
        """One report object per input entry known to the journal (``run --report``'s shape)."""
        names = dict(self._db.execute("SELECT job, id FROM jobs"))
        statuses = {
            NumberState.QUEUED: "queued",
            NumberState.SUBMITTED: "submitted",
            NumberState.RETRY: "retrying",
            NumberState.SUCCEEDED: "succeeded",
            NumberState.FAILED: "failed",
            NumberState.SKIPPED: "skipped",
        }
        for value, number_state, attempts, jobs, errors in self._db.execute(
            "SELECT value, state, attempts, jobs, errors FROM numbers ORDER BY seq"
        ):
            key = "phone_number" if value.startswith("+") else "id"
            final = NumberState(number_state)
            yield {
                key: value,
                "status": statuses[final],
                "attempts": attempts,
                "job_ids": [names[int(job)] for job in jobs.split(",") if job],
                "errors": orjson.loads(errors)
                if errors and final is not NumberState.SUCCEEDED
                else [],
            }
        for source, line, status, value, raw, reason in self._db.execute(
            "SELECT source, line, status, value, raw, reason FROM entries ORDER BY source, line"
        ):
            row: dict[str, Any] = {}
            if value is None:
                row["input"] = raw
            else:
                row["phone_number" if value.startswith("+") else "id"] = value
            row.update(status=status, attempts=0, job_ids=[], source=source, line=line)
            row["errors"] = (
                [{"code": "invalid_input", "title": "Rejected", "detail": reason}] if reason else []
            )
            yield row

    # -- internals -------------------------------------------------------------------

    def _load_open_numbers(self) -> None:
        for seq, value in self._db.execute("SELECT seq, value FROM numbers WHERE state < 3"):
            self._seq[value] = seq
        for row, job_id in self._db.execute("SELECT job, id FROM jobs WHERE status IS NULL"):
            self._job_rows[job_id] = row

    def _value(self, seq: int) -> str:
        row = self._db.execute("SELECT value FROM numbers WHERE seq = ?", (seq,)).fetchone()
        return str(row[0])

    def _job_names(self, rows: Iterable[int]) -> list[str]:
        names = []
        for row in rows:
            found = self._db.execute("SELECT id FROM jobs WHERE job = ?", (row,)).fetchone()
            if found is not None:
                names.append(str(found[0]))
        return names

    def _scalar(self, sql: str) -> int:
        value = self._db.execute(sql).fetchone()[0]
        return int(value)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(
        "PRAGMA synchronous = NORMAL"
    )  # WAL + NORMAL: durable at checkpoints, consistent always
    db.execute("PRAGMA cache_size = -32768")  # 32 MB
    return db


def _set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, orjson.dumps(value).decode()),
    )
