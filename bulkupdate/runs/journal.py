"""The durable record of a run: an SQLite file that makes resume possible.

Every step is written *before* it is taken, each in one transaction, so a crash at any
instant leaves a consistent journal:

* input read: the chunk's numbers are **queued**, in input order (each gets a ``seq``);
* a job POST about to go out is a **post** (its outcome unknown until an answer comes);
* an accepted POST makes a **job**, and its numbers **submitted** in it (written with
  the next step's transaction: lost with it, the job is looked for as the post's);
* a job seen to end **settles** its numbers: succeeded, failed (with the API's errors),
  back to **retry**, or skipped; numbers failed outside a job (ownership) fail directly.

Most numbers go through one job and succeed, so that story is written once per chunk
and once per job, not once per number: a chunk row holds its numbers, a job row holds
the ``seq`` ranges it covers, and a number's state follows from them (in a finished job:
succeeded; in a running one: submitted; in none: queued). Only the exceptions — numbers
that failed, were retried, or were skipped — get a row of their own. A million numbers
cost the journal a few thousand rows. The API key is never written. The file is created
with mode 0600; SQLite gives its WAL the same mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.api.wire import ErrorObject
from bulkupdate.engine.resume_state import ResumeState
from bulkupdate.errors import UsageError
from bulkupdate.input.scan import Duplicate, Rejection
from bulkupdate.runs.fresh_numbers import FreshNumbers
from bulkupdate.runs.journal_queries import JournalQueries
from bulkupdate.runs.journal_reader import NumberState, View
from bulkupdate.runs.journal_reader import decode_seqs as decode_seqs
from bulkupdate.runs.journal_reader import encode_seqs as encode_seqs
from bulkupdate.runs.journal_tables import SCHEMA, SCHEMA_VERSION
from bulkupdate.runs.output_paths import is_sqlite_file

# Seconds between writes of the run's ``updated_at`` as jobs are settled: written for
# each, it is a statement and a page of the journal more with every job's.
UPDATED_AT_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class InputFingerprint:
    """What an input file was when the run began, to notice if it changes."""

    path: str
    size: int
    sha256: str

    @classmethod
    def of(cls, path: str) -> InputFingerprint:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
                size += len(block)
        return cls(path, size, digest.hexdigest())


class Journal(JournalQueries):
    """Writes one run's journal (``JournalQueries`` reads it). Not thread-safe: one event loop."""

    def __init__(self, path: str | Path, connection: sqlite3.Connection) -> None:
        self.path = str(path)
        self._connection = connection
        # Statements of a step that is written with the next step's transaction
        # (``posted``): made, in order, by the first use of the connection after it.
        self._behind: list[tuple[str, list[tuple[Any, ...]]]] = []
        self._seq: dict[str, int] = {}  # value → seq, for numbers read and in no job
        # Numbers read and in no post yet, as their chunks: a post of the next ones in
        # order takes its seqs from here, and the rest spill into ``_seq`` when asked for.
        self._fresh = FreshNumbers()
        self._taken: dict[int, tuple[Sequence[str], int]] = {}  # post → (values, first seq)
        self._noted: set[str] = set()  # numbers not final with a row in exceptions
        self._job_rows: dict[str, int] = {}  # job id → jobs.job
        # A running job's numbers and their seqs (as ``encode_seqs`` text): looked up
        # one by one only if the job ends with exceptions. Not for a job adopted after a
        # restart, whose numbers' seqs stay in ``_seq``.
        self._in_job: dict[str, tuple[Sequence[str], str]] = {}
        self._posts: dict[int, str] = {}  # post → its numbers' seqs, until it makes a job
        self._updated_at = -math.inf  # when ``updated_at`` was last written by this process
        self._next_seq = int(self.meta("values_read", 0))
        self._chunks = int(self.meta("chunks_read", 0))
        (last_job,) = connection.execute("SELECT COALESCE(MAX(job), 0) FROM jobs").fetchone()
        self._next_job = int(last_job) + 1  # jobs.job of the next job recorded
        # Another module's writes that belong with a chunk read, in its transaction (the
        # sweep's progress over the account's listing: account_pages.py).
        self.beside_read: Callable[[sqlite3.Connection], None] | None = None

    def __repr__(self) -> str:
        open_numbers = len(self._seq) + len(self._fresh)
        return f"<Journal {self.path} values={self._next_seq} open={open_numbers}>"

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, once the statements held behind are made (in its transaction)."""
        if self._behind:
            behind, self._behind = self._behind, []
            try:
                for statement, rows in behind:
                    self._connection.executemany(statement, rows)
            except BaseException:
                self._connection.rollback()  # as ``with`` would: no half-recorded job
                raise
        return self._connection

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, settings: dict[str, Any]) -> Journal:
        """A new journal at ``path`` (which must not exist), mode 0600.

        It is written under another name and renamed into place, so a journal at
        ``path`` is whole or absent, whenever the process is killed. Creating one
        journal from two processes at once is for the caller's lock to prevent.
        """
        path = Path(path)
        draft = path.with_name(path.name + ".draft")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                raise UsageError(f"journal {path} already exists")
            for stale in (draft, *(Path(f"{draft}{side}") for side in ("-wal", "-shm"))):
                stale.unlink(missing_ok=True)  # left by a creation that was cut short
            os.close(os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise UsageError(f"journal {path}: cannot be created ({exc.strerror})") from exc
        db = _connect(draft)
        with db:
            db.executescript(SCHEMA)
            now = time.time()
            for key, value in (
                ("schema", SCHEMA_VERSION),
                ("settings", settings),
                ("status", "running"),
                ("started_at", now),
                ("updated_at", now),
            ):
                _set_meta(db, key, value)
        db.close()  # the last connection: SQLite moves the WAL into the file
        os.replace(draft, path)
        return cls(path, _connect(path))

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """An existing journal, to resume or to read."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"journal {path}: no such file")
        if not is_sqlite_file(str(path)):  # SQLite would turn an empty file into one
            raise UsageError(f"journal {path}: not a bulkupdate journal")
        try:
            db = _connect(path)
            version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"journal {path}: not a bulkupdate journal ({exc})") from exc
        if version is None or orjson.loads(version[0]) != SCHEMA_VERSION:
            raise UsageError(f"journal {path}: not a bulkupdate journal of this version")
        return cls(path, db)

    def close(self) -> None:
        # A job recorded since the last step (see ``posted``); unless closed already.
        with contextlib.suppress(sqlite3.ProgrammingError):
            self._db.commit()
        self._connection.close()

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
        self._chunks += 1
        self._fresh.add(start, values)
        with self._db as db:
            if values:
                db.execute(
                    "INSERT INTO chunks (first_seq, numbers) VALUES (?, ?)",
                    (start, "\n".join(values)),
                )
            if rejections or duplicates:
                rows: list[tuple[str, int, str, str | None, str | None, str | None]] = [
                    (r.source, r.line, "rejected", None, r.raw, r.reason) for r in rejections
                ]
                rows += [(d.source, d.line, "duplicate", d.value, None, None) for d in duplicates]
                db.executemany("INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
            _set_meta(db, "values_read", self._next_seq)
            _set_meta(db, "chunks_read", self._chunks)
            if self.beside_read is not None:
                self.beside_read(db)

    def posting(self, kind: str, values: Sequence[str], sent_at: str) -> int:
        """A job POST is about to go out: note it, so a lost answer can be looked into."""
        first = self._fresh.take(values)
        if first is None:
            seqs = self._seqs_of(values)
        else:  # the next numbers read: one run of seqs
            seqs = encode_seqs(range(first, first + len(values)))
        with self._db as db:
            cursor = db.execute(
                "INSERT INTO posts (kind, sent_at, seqs) VALUES (?, ?, ?)", (kind, sent_at, seqs)
            )
        post = cursor.lastrowid
        assert post is not None
        self._posts[post] = seqs
        if first is not None:
            self._taken[post] = (values, first)
        return post

    def posted(self, post: int | None, job_id: str, kind: str, values: Sequence[str]) -> None:
        """The POST made job ``job_id`` (or a lost answer's job was found): submitted."""
        known = self._posts.pop(post, None) if post is not None else None
        taken = self._taken.pop(post, None) if post is not None else None
        seqs, in_job = self._seq, known or self._seqs_of(values)
        # Not written on its own: its statements go with the next step's transaction
        # (most often the next POST's, in the same turn of the loop), a commit fewer per
        # job, and made then, beside that step's, rather than each on its own between the
        # rest of the run's work: SQLite costs several times less so. Lost to a crash
        # before then, the job is found again as a post's (``posts`` still holds it), as
        # if its answer had been lost.
        row, self._next_job = self._next_job, self._next_job + 1
        behind = self._behind
        behind.append(
            (
                "INSERT INTO jobs (job, id, kind, size, seqs, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(row, job_id, kind, len(values), in_job, time.time())],
            )
        )
        self._job_rows[job_id] = row
        noted = self._noted
        if not noted:
            again = []
        elif taken is not None:  # fresh from the chunks: values[i] is seq first + i
            again = [taken[1] + i for i, value in enumerate(values) if value in noted]
        else:
            again = [seqs[value] for value in values if value in noted]
        if again:  # numbers with a story already: one more attempt in it
            behind.append(
                (
                    "UPDATE exceptions SET state = 1, attempts = attempts + 1, jobs = "
                    "CASE jobs WHEN '' THEN ?1 ELSE jobs || ',' || ?1 END WHERE seq = ?2",
                    [(str(row), seq) for seq in again],
                )
            )
        if post is not None:
            behind.append(("DELETE FROM posts WHERE post = ?", [(post,)]))
        # The job holds its numbers' seqs now: a run with many jobs ended but not yet
        # seen to end keeps no entry per number for them.
        self._in_job[job_id] = (tuple(values), in_job)
        if taken is None:  # (taken ones left ``_fresh`` when posted, and never were in _seq)
            deque(map(seqs.pop, values), maxlen=0)

    def post_done(self, post: int) -> None:
        """The POST made no job (refused, or nothing found after a lost answer)."""
        self._posts.pop(post, None)
        taken = self._taken.pop(post, None)
        if taken is not None:  # its numbers go again, in another post: look them up then
            values, first = taken
            self._seq.update(zip(values, range(first, first + len(values)), strict=True))
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
        """A job ended: the new state of each of its numbers, in one transaction.

        Numbers that simply succeeded need no row: their finished job says it, and nothing
        is looked up for them.
        """
        noted = self._noted
        job = str(self._job_rows.pop(job_id, ""))
        done = succeeded if isinstance(succeeded, list | tuple) else list(succeeded)
        told = noted.intersection(done) if noted else set()
        failed, retry, skipped = list(failed), list(retry), list(skipped)
        seq_of = self._seqs_in(job_id, done, failed, retry, skipped, told)
        rows: list[tuple[int, int, str, str | None]] = [
            (seq_of[value], NumberState.SUCCEEDED, job, None) for value in told
        ]
        noted.difference_update(told)
        for value, errors in failed:
            noted.discard(value)
            rows.append((seq_of[value], NumberState.FAILED, job, _json(errors)))
        for value, errors in retry:
            noted.add(value)
            self._seq[value] = seq_of[value]  # it goes again: posted anew
            rows.append((seq_of[value], NumberState.RETRY, job, _json(errors)))
        for value in skipped:
            noted.discard(value)
            rows.append((seq_of[value], NumberState.SKIPPED, job, None))
        with self._db as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?",
                (status, time.time(), job_id),
            )
            if rows:
                # A number's first row: one attempt, in this job. Later rows keep the
                # attempts and jobs ``posted`` counted.
                db.executemany(
                    "INSERT INTO exceptions (seq, state, attempts, jobs, errors) "
                    "VALUES (?1, ?2, 1, ?3, ?4) "
                    "ON CONFLICT (seq) DO UPDATE SET state = ?2, errors = ?4",
                    rows,
                )
            now = time.time()
            if now - self._updated_at >= UPDATED_AT_EVERY:
                _set_meta(db, "updated_at", now)
                self._updated_at = now

    def failed(self, values: Iterable[str], errors: Sequence[ErrorObject]) -> None:
        """Numbers failed for good outside any job (the API refused their request)."""
        text = orjson.dumps(list(errors)).decode()
        self._fresh.spill(self._seq)
        rows = []
        for value in values:
            self._noted.discard(value)
            rows.append((self._seq.pop(value), text))
        with self._db as db:
            db.executemany(
                "INSERT INTO exceptions (seq, state, attempts, jobs, errors) "
                "VALUES (?1, 4, 1, '', ?2) ON CONFLICT (seq) DO UPDATE SET state = 4, errors = ?2",
                rows,
            )

    def finish(self, status: str, totals: dict[str, int] | None = None) -> None:
        """The run ended (``finished``) or stopped (``interrupted``)."""
        with self._db as db:
            now = time.time()
            _set_meta(db, "status", status)
            _set_meta(db, "updated_at", now)
            if status == "finished":
                _set_meta(db, "finished_at", now)
            if totals is not None:
                _set_meta(db, "totals", totals)

    # -- resuming --------------------------------------------------------------------

    def resume_state(self) -> ResumeState:
        """Everything not final, sorted by what resume must do with it.

        Also makes the journal ready to record the resumed run.
        """
        state = ResumeState(chunks_read=self._chunks)
        view = self._view()
        self._load_open_numbers(view)
        wanted: dict[int, list[Any]] = {}  # seq → the list its value goes to
        in_post: set[int] = set()
        posts = []
        for post, sent_at, seqs in self._db.execute("SELECT post, sent_at, seqs FROM posts"):
            numbers = decode_seqs(seqs)
            in_post.update(numbers)
            posts.append((post, sent_at, numbers))
        active: dict[int, list[str]] = {row: [] for row in view.running}
        retry_rows = []
        for seq in range(self._next_seq):
            if seq in in_post:
                continue
            note = view.exceptions.get(seq)
            job = view.job_of[seq]
            if note is not None and note.state is NumberState.RETRY:
                retry_rows.append((seq, note))
            elif note is not None and note.state.is_final:
                continue
            elif job and job in view.running:
                wanted[seq] = active[job]
            elif job == 0 or (note is not None and note.state is NumberState.QUEUED):
                wanted[seq] = state.queued
        values = self._values({*wanted, *in_post, *(seq for seq, _ in retry_rows)})
        for seq, target in wanted.items():
            target.append(values[seq])
        for seq, note in retry_rows:
            names = [view.job_ids[job] for job in note.jobs if job in view.job_ids]
            state.retry.append((values[seq], note.attempts, names, tuple(note.errors)))
        state.posts = [(post, at, [values[seq] for seq in seqs]) for post, at, seqs in posts]
        state.active_jobs = [(view.job_ids[row], found) for row, found in active.items() if found]
        state.known_jobs = set(view.job_ids.values())
        # Attempts so far of the numbers still in a job or a post, so --max-attempts
        # counts across the restart. A running job is counted again when it ends.
        for seq, note in view.exceptions.items():
            if note.state is not NumberState.SUBMITTED and seq not in in_post:
                continue
            names = [view.job_ids[job] for job in note.jobs if job in view.job_ids]
            running = seq not in in_post and bool(note.jobs) and note.jobs[-1] in view.running
            if running:
                names = names[:-1]
            if seq in values:
                state.histories[values[seq]] = (note.attempts - running, names, tuple(note.errors))
        return state

    # -- internals -------------------------------------------------------------------

    def _seqs_in(
        self,
        job_id: str,
        succeeded: Sequence[str],
        failed: list[tuple[str, Sequence[ErrorObject]]],
        retry: list[tuple[str, Sequence[ErrorObject]]],
        skipped: list[str],
        told: set[str],
    ) -> dict[str, int]:
        """The seqs of an ending job's numbers, as far as rows need them."""
        found = self._in_job.pop(job_id, None)
        if found is None:  # adopted after a restart: its numbers' seqs are in _seq
            self._fresh.spill(self._seq)
            pop = self._seq.pop
            every = chain(succeeded, (v for v, _ in failed), (v for v, _ in retry), skipped)
            return {value: pop(value) for value in every}
        if not (told or failed or retry or skipped):
            return {}  # every number's story is the job's
        values, seqs = found
        return dict(zip(values, decode_seqs(seqs), strict=True))

    def _seqs_of(self, values: Sequence[str]) -> str:
        self._fresh.spill(self._seq)  # (a no-op unless posts left the chunks' order)
        if len(values) < 2:
            return encode_seqs([self._seq[value] for value in values])
        return encode_seqs(itemgetter(*values)(self._seq))  # a tuple, looked up in C

    def _values(self, seqs: set[int]) -> dict[int, str]:
        """The numbers at ``seqs``, read from their chunks."""
        found: dict[int, str] = {}
        if not seqs:
            return found
        for first_seq, numbers in self._db.execute("SELECT first_seq, numbers FROM chunks"):
            values = numbers.split("\n")
            for seq in range(first_seq, first_seq + len(values)):
                if seq in seqs:
                    found[seq] = values[seq - first_seq]
        return found

    def _load_open_numbers(self, view: View) -> None:
        """After a restart: the value → seq map of every number not final yet."""
        open_seqs = {seq for seq in range(self._next_seq) if not view.state_of(seq).is_final}
        for seq, value in self._values(open_seqs).items():
            self._seq[value] = seq
            if seq in view.exceptions:
                self._noted.add(value)
        self._job_rows = {view.job_ids[row]: row for row in view.running}


def _json(errors: Sequence[ErrorObject]) -> str:
    return orjson.dumps(list(errors)).decode()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    # WAL with NORMAL: every commit survives the process being killed; a power cut may
    # lose the last few, never consistency.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def _set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, orjson.dumps(value).decode()),
    )
