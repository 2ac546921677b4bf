"""Watch submitted jobs until they end, spending as little of the rate budget as it can.

Polls cost the same budget as submissions, so the watcher

* first looks at a job when the server's own estimate (``etc``) says it should be done,
  and after that when its pending count says the rest should be;
* learns about many jobs in one request (``GET /phone_numbers/jobs?filter[type]=…``,
  newest first) when more than one is due, and fetches a single due job by id;
* while job slots are free, waits to poll until they are about to run out at the rate
  submissions go, so that one list brings back every job that ended meanwhile; once
  jobs hold every slot, or everything is submitted, it polls as soon as a job is due,
  because a finished job frees its slot only when it is seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio

from bulkupdate.batching import Batch
from bulkupdate.client import MAX_PAGE_SIZE, ApiClient
from bulkupdate.errors import NotFoundError
from bulkupdate.ledger import Ledger
from bulkupdate.limits import JobSlots
from bulkupdate.spec import JobKind
from bulkupdate.tracker import first_poll_delay, next_poll_delay, vanished_job
from bulkupdate.wire import Job, job_from_json

SLOT_LEAD = 0.3  # seconds before the free job slots would run out to look at jobs
MAX_QUIET = 30.0  # seconds: the longest the watcher goes without looking
DUE_MARGIN = 0.05  # seconds after the estimate before looking
COALESCE = 0.25  # seconds: jobs due this soon are looked at in the same round
LIST_SLACK = 5  # extra jobs on a list page, for jobs other clients created meanwhile


@dataclass(slots=True)
class TrackedJob:
    job_id: str
    batch: Batch
    created_seq: int  # the order in which this run created its jobs
    due: float
    polls: int = 0
    missing_from_list: bool = False


class JobWatcher:
    """Polls the jobs of one kind until each ends; settles them in the ledger."""

    def __init__(
        self,
        client: ApiClient,
        kind: JobKind,
        ledger: Ledger,
        slots: JobSlots,
        *,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.client = client
        self.kind = kind
        self.ledger = ledger
        self.slots = slots
        self.jobs: dict[str, TrackedJob] = {}
        self.seconds_per_number: float | None = None
        self.polls = 0
        self._clock = clock
        self._created = 0
        self._closing = False
        self._added = anyio.Event()
        self._last_poll = clock()  # the quiet spell counts from the start

    def __repr__(self) -> str:
        return f"<JobWatcher {self.kind.value} active={len(self.jobs)} polls={self.polls}>"

    def track(self, job: Job, batch: Batch) -> None:
        """Watch ``job`` (just created for ``batch``) until it ends; it holds a job slot."""
        self._created += 1
        self._learn_from_estimate(job, len(batch))
        if job.status.is_final:
            self._finish(job, batch)
            return
        delay = first_poll_delay(job, len(batch), self.seconds_per_number)
        self.jobs[job.id] = TrackedJob(job.id, batch, self._created, self._clock() + delay)
        self._wake()

    def adopt(self, job_id: str, batch: Batch) -> None:
        """Watch a job an earlier run created (its slot already held); look at it first."""
        self._created += 1
        self.jobs[job_id] = TrackedJob(job_id, batch, self._created, self._clock())
        self._wake()

    def close(self) -> None:
        """No more jobs will come: return once the tracked ones have ended."""
        self._closing = True
        self._wake()

    async def run(self) -> None:
        while self.jobs or not self._closing:
            wake_at = self._next_round()
            if wake_at is None:
                await self._wait(None)
                continue
            wait = wake_at - self._clock()
            if wait > 0:
                await self._wait(wait)
                continue
            await self._poll_round()

    # -- scheduling ------------------------------------------------------------------

    def _next_round(self) -> float | None:
        if not self.jobs:
            return None
        due = min(job.due for job in self.jobs.values())
        # Urgent when jobs hold every slot (a job seen to end frees one at once), or when
        # every batch is submitted and only the jobs' ends stand between the run and its
        # end. (Slots held by submitters still waiting for the rate limiter do not count:
        # they say nothing about the jobs.)
        free = self.slots.capacity - len(self.jobs)
        if free <= 0 or self._closing or self.ledger.nothing_to_submit:
            return due
        # Slots are free: look only when they are about to run out at the rate
        # submissions go, so one list brings back every job that ended meanwhile; and at
        # least now and then, so a slow job's progress is seen.
        rate = self.client.governor.model.rate
        runs_out = self._clock() + free / rate - SLOT_LEAD
        return max(due, min(runs_out, self._last_poll + MAX_QUIET))

    async def _wait(self, at_most: float | None) -> None:
        added = self._added
        with anyio.move_on_after(at_most):
            await added.wait()

    def nudge(self) -> None:
        """Something that decides when to poll changed (the input ended, a cap dropped)."""
        self._wake()

    def _wake(self) -> None:
        self._added.set()
        self._added = anyio.Event()

    # -- polling ---------------------------------------------------------------------

    async def _poll_round(self) -> None:
        now = self._clock()
        self._last_poll = now
        due = [job for job in self.jobs.values() if job.due <= now + COALESCE]
        listable = [job for job in due if not job.missing_from_list]
        if len(listable) >= 2:
            await self._poll_by_list(listable)
            due = [job for job in due if job.missing_from_list and job.job_id in self.jobs]
        for tracked in due:
            await self._poll_one(tracked)

    async def _poll_by_list(self, due: list[TrackedJob]) -> None:
        oldest = min(job.created_seq for job in due)
        size = min(MAX_PAGE_SIZE, self._created - oldest + 1 + LIST_SLACK)
        page = await self.client.list_jobs(self.kind, page_size=size)
        self.polls += 1
        seen: set[str] = set()
        for item in page.items:
            if not isinstance(item, dict):
                continue
            tracked = self.jobs.get(str(item.get("id")))
            if tracked is None:
                continue
            try:
                job = job_from_json(item)
            except ValueError:
                continue  # unreadable in the list: fetched by id below
            seen.add(tracked.job_id)
            self._update(tracked, job)
        for tracked in due:
            if tracked.job_id not in seen:
                tracked.missing_from_list = True  # pushed off the page: fetch by id

    async def _poll_one(self, tracked: TrackedJob) -> None:
        try:
            job = await self.client.get_job(tracked.job_id)
        except NotFoundError:
            job = vanished_job(tracked.job_id, self.kind.value, tracked.batch)
        self.polls += 1
        self._update(tracked, job)

    def _update(self, tracked: TrackedJob, job: Job) -> None:
        if job.status.is_final:
            del self.jobs[tracked.job_id]
            self._finish(job, tracked.batch)
            return
        tracked.polls += 1
        tracked.due = self._clock() + next_poll_delay(job, self.seconds_per_number, tracked.polls)

    def _finish(self, job: Job, batch: Batch) -> None:
        self.slots.release()
        self.ledger.finish_job(job, batch)
        self.ledger.progress()

    # -- learning how long a number takes --------------------------------------------
    # From the server's own estimates: what polling observes is only as fine as the polls.

    def _learn_from_estimate(self, job: Job, size: int) -> None:
        if job.etc is not None and job.created_at is not None and size:
            estimate = max(0.0, (job.etc - job.created_at).total_seconds()) / size
            self._blend(estimate)

    def _blend(self, sample: float) -> None:
        previous = self.seconds_per_number
        self.seconds_per_number = sample if previous is None else 0.8 * previous + 0.2 * sample
