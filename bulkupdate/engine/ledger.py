"""The run's books: which numbers are in flight, which wait for a retry, which are final.

Every stage reports here; nothing else decides a number's outcome. Numbers that go
through on their first job never get an entry of their own: only a number that needs
another attempt is remembered (``History``), so memory follows the numbers in flight,
not the size of the input.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from bulkupdate.api.backoff import BackoffPolicy, compute_backoff
from bulkupdate.api.loop_clock import loop_time, wait_at_most
from bulkupdate.api.wire import ErrorObject, Job
from bulkupdate.engine.job_states import FILTERED_OUT, settle
from bulkupdate.engine.outcomes import Outcome, OutcomeSink, OutcomeStatus, Totals
from bulkupdate.engine.retry_pool import History, RetryPool
from bulkupdate.input.batching import Batch, EntryKind
from bulkupdate.input.scan import Duplicate, Rejection

# Between attempts of a number its job failed for a passing reason: 0.05 s, 0.1 s, 0.2 s…
# with jitter. The job itself took a while; a server in trouble is kept from being
# hammered by the rate governor and the number's growing wait.
RETRY_BACKOFF = BackoffPolicy(base=0.05, cap=60.0)
RETRY_LINGER = 0.1  # seconds a part-filled retry batch waits for more numbers
RETRY_GATHER = 0.2  # seconds of backoff a part-filled batch cuts short to take a number


class Recorder(Protocol):
    """Where the run's steps are written before they are taken (``journal.Journal``)."""

    def read(
        self,
        values: Sequence[str],
        rejections: Sequence[Rejection],
        duplicates: Sequence[Duplicate],
    ) -> None: ...

    def posting(self, kind: str, values: Sequence[str], sent_at: str) -> int | None: ...

    def posted(self, post: int | None, job_id: str, kind: str, values: Sequence[str]) -> None: ...

    def post_done(self, post: int) -> None: ...

    def settled(
        self,
        job_id: str,
        status: str,
        succeeded: Iterable[str],
        failed: Iterable[tuple[str, Sequence[ErrorObject]]],
        retry: Iterable[tuple[str, Sequence[ErrorObject]]],
        skipped: Iterable[str],
    ) -> None: ...

    def failed(self, values: Iterable[str], errors: Sequence[ErrorObject]) -> None: ...


class NoRecorder:
    """A run without a journal."""

    def read(
        self,
        values: Sequence[str],
        rejections: Sequence[Rejection],
        duplicates: Sequence[Duplicate],
    ) -> None:
        pass

    def posting(self, kind: str, values: Sequence[str], sent_at: str) -> int | None:
        return None

    def posted(self, post: int | None, job_id: str, kind: str, values: Sequence[str]) -> None:
        pass

    def post_done(self, post: int) -> None:
        pass

    def settled(
        self,
        job_id: str,
        status: str,
        succeeded: Iterable[str],
        failed: Iterable[tuple[str, Sequence[ErrorObject]]],
        retry: Iterable[tuple[str, Sequence[ErrorObject]]],
        skipped: Iterable[str],
    ) -> None:
        pass

    def failed(self, values: Iterable[str], errors: Sequence[ErrorObject]) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for progress bars and callbacks."""

    entries: int
    numbers_done: int
    succeeded: int
    failed: int
    rejected: int
    duplicates: int
    batches_submitted: int
    jobs_finished: int
    active_jobs: int
    waiting_retry: int
    input_done: bool


class Ledger:
    """Outcomes, retries and the counts that say when a run is over."""

    def __init__(
        self,
        sink: OutcomeSink | None,
        *,
        batch_size: int,
        max_attempts: int,
        retry_backoff: BackoffPolicy = RETRY_BACKOFF,
        clock: Callable[[], float] = loop_time,
        rand: Callable[[], float] = random.random,
        on_progress: Callable[[Progress], None] | None = None,
        filtered: bool = False,
        recorder: Recorder | None = None,
        on_event: Callable[..., None] | None = None,
    ) -> None:
        self.sink = sink  # None: outcomes are kept elsewhere (the journal) or nowhere
        self.recorder: Recorder = recorder or NoRecorder()
        self._on_event = on_event
        self.filtered = filtered  # the requests carry filters that may leave numbers out
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.pool = RetryPool(batch_size)
        self.history: dict[str, History] = {}
        self.totals = Totals()
        self.in_flight = 0  # numbers handed to submitters and not settled yet
        self.submitting = 0  # batches a submitter holds and has not put in jobs yet
        self.waiting_for_slot = 0  # numbers of batches whose submitter waits for a job slot
        self.entries = 0
        self.input_done = False  # every batch of the input handed to a submitter
        self.input_read = False  # every entry of the input read (and cut into batches)
        self.reader_holding = 0  # numbers in batches the reader has yet to hand over
        self.batches_submitted = 0
        self.jobs_finished = 0
        self.active_jobs = 0
        self.settled_numbers = 0  # numbers of jobs that ended
        self.retried_numbers = 0  # of those, the ones sent to be tried again
        self._clock = clock
        self._rand = rand
        self._on_progress = on_progress
        self._changed = anyio.Event()

    def __repr__(self) -> str:
        return (
            f"<Ledger in_flight={self.in_flight} retry={len(self.pool)} "
            f"totals={self.totals.as_dict()}>"
        )

    # -- what the stages report ------------------------------------------------------

    def read(
        self, values: Sequence[str], rejections: Sequence[Rejection], dups: Sequence[Duplicate]
    ) -> None:
        """A chunk of input: ``values`` are about to be batched; the rest is final."""
        self.recorder.read(values, rejections, dups)
        self.entries += len(values) + len(rejections) + len(dups)
        for rejection in rejections:
            self._final(Outcome.rejected(rejection))
        for duplicate in dups:
            self._final(Outcome.duplicate(duplicate))

    def dispatched(self, batch: Batch) -> None:
        self.in_flight += len(batch)

    def submitted(self, job_id: str, values: Sequence[str]) -> None:
        """A job was created for ``values`` (or found after its answer was lost)."""
        self.batches_submitted += 1
        self.active_jobs += 1
        if self._on_event is not None:
            self.event(
                "batch_submitted", job_id=job_id, size=len(values), attempt=self._attempt(values)
            )
        self.progress()

    def event(self, name: str, **fields: object) -> None:
        """Tell the run's event log (if any) that ``name`` happened."""
        if self._on_event is not None:
            self._on_event(name, **fields)

    def finish_job(self, job: Job, batch: Batch, *, sent_at: float | None = None) -> None:
        """Settle every number of a final job (sent at ``sent_at``, if known)."""
        self.active_jobs -= 1
        self.jobs_finished += 1
        by_id = batch.kind.value == "id"
        settlement = settle(job, batch.values, by_id=by_id, filtered=self.filtered)
        self.settled_numbers += len(batch)
        self.retried_numbers += len(settlement.retry)
        again: list[tuple[str, tuple[ErrorObject, ...]]] = []
        spent: list[tuple[str, tuple[ErrorObject, ...]]] = []
        for value, errors in settlement.retry:
            (spent if self.attempts(value) + 1 >= self.max_attempts else again).append(
                (value, errors)
            )
        self.recorder.settled(
            job.id,
            job.status.value,
            settlement.succeeded,
            [*settlement.failed, *spent],
            again,
            settlement.skipped,
        )
        self.event(
            "job_finished",
            job_id=job.id,
            status=job.status.value,
            succeeded=len(settlement.succeeded),
            failed=len(settlement.failed) + len(spent),
            retry=len(again),
            skipped=len(settlement.skipped),
        )
        self._all_succeeded(settlement.succeeded, job.id)
        for value in settlement.skipped:
            past = self.history.pop(value, None) or History()
            self._final(
                Outcome.skipped(value, past.attempts + 1, [*past.job_ids, job.id], FILTERED_OUT)
            )
            self.in_flight -= 1
        for value, errors in settlement.failed:
            self.failed(value, errors, job.id)
        # One jitter draw for the whole job keeps its retries together in one batch.
        jitter = self._rand()
        for value, errors in settlement.retry:
            self.retry(value, errors, job.id, jitter=jitter, sent_at=sent_at)
        if again:
            ready = self.pool.next_ready_at()
            after = 0.0 if ready is None else max(0.0, ready - self._clock())
            self.event("retried", numbers=len(again), after_s=round(after, 3))
        self.notify()

    def _all_succeeded(self, values: Sequence[str], job_id: str) -> None:
        """``values`` succeeded in job ``job_id``.

        Numbers on their first attempt (a job's worth, as a rule) have no history: they
        are counted as a whole, and an outcome is made for each only for a sink.
        """
        history = self.history
        if history and not history.keys().isdisjoint(values):
            for value in values:
                self.succeeded(value, job_id)
            return
        self.in_flight -= len(values)
        self.totals.succeeded += len(values)
        if self.sink is not None:
            job_ids = (job_id,)
            for value in values:
                self.sink.record(Outcome(OutcomeStatus.SUCCEEDED, value, 1, job_ids))

    def succeeded(self, value: str, job_id: str) -> None:
        past = self.history.pop(value, None)
        if past is None:
            self._final(Outcome.succeeded(value, 1, (job_id,)))
        else:
            self._final(Outcome.succeeded(value, past.attempts + 1, [*past.job_ids, job_id]))
        self.in_flight -= 1

    def refused(self, values: Sequence[str], errors: Sequence[ErrorObject]) -> None:
        """Numbers failed for good outside any job: the API refused a request of theirs."""
        self.recorder.failed(values, errors)
        for value in values:
            self.failed(value, errors)

    def failed(self, value: str, errors: Sequence[ErrorObject], job_id: str | None = None) -> None:
        """A number failed for good (``job_id`` is the job it was in, if any)."""
        past = self.history.pop(value, None) or History()
        job_ids = [*past.job_ids, job_id] if job_id else past.job_ids
        self._final(Outcome.failed(value, max(1, past.attempts + bool(job_id)), job_ids, errors))
        self.in_flight -= 1

    def retry(
        self,
        value: str,
        errors: Sequence[ErrorObject],
        job_id: str | None = None,
        *,
        jitter: float | None = None,
        sent_at: float | None = None,
    ) -> None:
        """Send ``value`` again after a backoff, unless it has used up its attempts.

        The backoff spaces a number's attempts: it counts from when the failed one was
        sent (``sent_at``, if known), as the job's own run is time the number waited.
        """
        past = self.history.setdefault(value, History())
        if job_id:
            past.attempts += 1
            past.job_ids.append(job_id)
        past.errors = tuple(errors)
        if past.attempts >= self.max_attempts:
            self.failed(value, errors)
            return
        draw = self._rand if jitter is None else (lambda: jitter)
        wait = compute_backoff(max(1, past.attempts), self.retry_backoff, rand=draw)
        now = self._clock()
        self.pool.add(value, now + wait if sent_at is None else max(now, sent_at + wait))
        self.in_flight -= 1

    def take_ready_retries(self) -> list[str]:
        """Every number ready to go again, to join fresh numbers in the next batches."""
        return self.pool.take_ready(self._clock())

    def give_back(self, values: Sequence[str]) -> None:
        """Numbers a submitter will not send now (the tail is being spread over the job
        slots): back to the pool, ready at once, their attempts untouched."""
        ready_at = self._clock() - RETRY_LINGER
        for value in values:
            self.pool.add(value, ready_at)
        self.in_flight -= len(values)
        self.notify()

    def take_retry_batch(self) -> Batch | None:
        """Ready retries: full batches while fresh numbers still wait to be sent, then
        any ready ones.

        A part-filled batch goes only once the input is exhausted and no submitter holds
        a batch it has yet to send (until then ready numbers join those batches, see
        ``top_up``), when nothing else in flight could join it, or after it has lingered
        a moment waiting for company.
        """
        partial = self._partial
        gather = RETRY_GATHER if partial else 0.0
        batch = self.pool.take(self._clock(), partial=partial, linger=self._linger, gather=gather)
        if batch is not None:
            self.dispatched(batch)
        return batch

    def next_retry_at(self) -> float | None:
        """When ``take_retry_batch`` may next have something; None if nothing can come
        until the books change (the pool is empty, or holds no full batch while fresh
        numbers still wait)."""
        return self.pool.next_ready_at(self._linger, partial=self._partial)

    @property
    def _partial(self) -> bool:
        return self.input_done and self.submitting == 0

    @property
    def _linger(self) -> float:
        return RETRY_LINGER if self.in_flight else 0.0

    def top_up(self, kind: EntryKind, count: int) -> list[str]:
        """Up to ``count`` numbers of ``kind`` ready to go again, to fill a batch about to
        be sent."""
        values = self.pool.take_ready(self._clock(), kind=kind, limit=count)
        self.in_flight += len(values)
        return values

    def attempts(self, value: str) -> int:
        past = self.history.get(value)
        return past.attempts if past else 0

    def _attempt(self, values: Sequence[str]) -> int:
        """The attempt a job of ``values`` is: one more than the most any of them had."""
        history = self.history
        if not history or history.keys().isdisjoint(values):
            return 1
        return 1 + max(self.attempts(value) for value in values)

    # -- coordination ---------------------------------------------------------------

    @property
    def retry_share(self) -> float:
        """The share of the numbers in ended jobs that had to be tried again so far."""
        return self.retried_numbers / self.settled_numbers if self.settled_numbers else 0.0

    @property
    def nothing_to_submit(self) -> bool:
        """Input read and no batch held by a submitter: what remains is jobs to end and
        the retries they may bring."""
        return self.input_done and self.submitting == 0

    @property
    def finished(self) -> bool:
        """Input read, nothing in flight, nothing waiting: the run is over."""
        return self.input_done and self.in_flight == 0 and not len(self.pool)

    def notify(self) -> None:
        """Wake whoever waits for the books to change: the retry feeder, which has
        nothing to do while the pool is empty, until the run is over. So a run with no
        retries does not wake it twice a job."""
        if not len(self.pool) and not self.finished:
            return
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for_change(self, at_most: float | None = None) -> None:
        """Return when the books change, or after ``at_most`` seconds."""
        await wait_at_most(self._changed, at_most)

    def progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.snapshot())

    def snapshot(self) -> Progress:
        t = self.totals
        return Progress(
            entries=self.entries,
            numbers_done=t.entries,
            succeeded=t.succeeded,
            failed=t.failed,
            rejected=t.rejected,
            duplicates=t.duplicates,
            batches_submitted=self.batches_submitted,
            jobs_finished=self.jobs_finished,
            active_jobs=self.active_jobs,
            waiting_retry=len(self.pool),
            input_done=self.input_done,
        )

    def _final(self, outcome: Outcome) -> None:
        self.totals.add(outcome)
        if self.sink is not None:
            self.sink.record(outcome)
