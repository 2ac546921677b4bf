"""Watch submitted jobs until they end, spending as little of the rate budget as it can.

Polls cost the same budget as submissions, so the watcher

* takes the server's own estimate (``etc``) at its word: once a job's estimate has
  passed, its job slot is *lent* to the next submission before any poll has confirmed
  the end. A poll costs a request and frees the slots of every job that ended; a lent slot
  costs nothing, and an estimate that was wrong costs one refused submission (the API's
  job cap) and lending is withheld until a poll has settled what really ended. Two wrong
  estimates and it lends no more for the run;
* settles outcomes in one list request (``GET /phone_numbers/jobs?filter[type]=…``,
  newest first, up to 250 jobs) every few seconds, fetching a single job by id only when
  it is the only one due or the list no longer reaches it;
* once everything is submitted (only the jobs' ends stand between the run and its end),
  looks as soon as a job is due.

Without lending (switched off, or after wrong estimates) it polls when the free job
slots are about to run out at the rate submissions go, so that one list brings back
every job that ended meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

import anyio
import anyio.lowlevel

from bulkupdate.api.client import MAX_PAGE_SIZE, ApiClient
from bulkupdate.api.loop_clock import Alarm, loop_time
from bulkupdate.api.wire import Job
from bulkupdate.budget.slots import RunSlots
from bulkupdate.engine.job_states import (
    END_POLL_SECONDS,
    MIN_POLL_SECONDS,
    first_poll_delay,
    next_poll_delay,
    vanished_job,
)
from bulkupdate.engine.ledger import Ledger
from bulkupdate.errors import NotFoundError
from bulkupdate.input.batching import Batch
from bulkupdate.request.spec import JobKind

SLOT_LEAD = 0.3  # seconds before the free job slots would run out to look at jobs
MAX_QUIET = 30.0  # seconds: the longest the watcher goes without looking
SETTLE_AFTER = 5.0  # seconds a due job's slot is lent before a poll settles it
SETTLE_COST = 0.01  # the most of the pace settling looks may take while jobs are lent
SETTLE_SPAN = 200  # jobs: settle before the due ones no longer fit in one list page
COALESCE = 0.25  # seconds: jobs due this soon are looked at in the same round
LIST_SLACK = 5  # extra jobs on a list page, for jobs other clients created meanwhile
LIST_LATENCY = 0.5  # seconds a page of jobs may take to come, until one has come
LIST_MARGIN = 2.0  # room on a page for this many times the jobs created meanwhile, as paced
LIST_PAGES = 3  # list pages read back to the oldest due job, before fetching it by id
WRONG_ESTIMATES = 2  # lent slots whose job had not ended, before lending stops
JOBS_BETWEEN_YIELDS = 4  # jobs of a list page settled before other tasks get a turn
# While answers are on their way, a due job's slot waits for one of them, up to this many
# seconds after its estimate, rather than for a timer of its own: waking an idle process
# costs more CPU than the lending does (0.1–0.7 ms a wake on a virtual machine), and in a
# busy run the answers come many times a second. The wait is at most this share of the
# time the job has held its slot, so that short jobs lose little of theirs. With nothing
# on its way, no answer will come first: the slot is lent at the estimate.
LEND_SLACK = 0.05
LEND_SLACK_SHARE = 0.1


@dataclass(slots=True)
class TrackedJob:
    job_id: str
    batch: Batch
    created_seq: int  # the order in which this run created its jobs
    due: float
    sent_at: float | None = None  # when its POST went (None: an earlier run created it)
    polls: int = 0
    missing_from_list: bool = False
    lent: bool = False  # its slot is lent out on the strength of its estimate
    held_since: float | None = None  # when its POST went (None: not known)

    @property
    def lend_by(self) -> float:
        """When its slot is lent at the latest while answers are awaited (LEND_SLACK)."""
        held = 0.0 if self.held_since is None else max(0.0, self.due - self.held_since)
        return self.due + min(LEND_SLACK, LEND_SLACK_SHARE * held)


_DUE = attrgetter("due")
_LENT = attrgetter("lent")


class JobWatcher:
    """Polls the jobs of one kind until each ends; settles them in the ledger."""

    def __init__(
        self,
        client: ApiClient,
        kind: JobKind,
        ledger: Ledger,
        slots: RunSlots,
        *,
        clock: Callable[[], float] = loop_time,
        lend: bool = True,
    ) -> None:
        self.client = client
        self.kind = kind
        self.ledger = ledger
        self.slots = slots
        self.jobs: dict[str, TrackedJob] = {}
        self.seconds_per_number: float | None = None
        self.polls = 0
        self.wrong_estimates = 0
        self.lending = lend
        self._lending_held = False  # a refusal said an estimate was wrong: wait for a poll
        self._poll_now = False
        self._clock = clock
        self._created = 0
        self._closing = False
        # The polling loop and the lending task each sleep until a planned time, or until
        # woken: a new job wakes one only if it brings that time forward (``_plan``), so
        # the thousand jobs of a run do not each cost both a wake and a new timer.
        self._rounds = Alarm()
        self._lends_due = Alarm()
        self._next_due = math.inf  # the earliest estimate of a job whose slot is not lent
        self._last_poll = clock()  # the quiet spell counts from the start
        self._input_read_at = float("inf")
        self._reclaimed_at = -math.inf  # when lent slots were last taken back on a refusal
        self._list_latency = LIST_LATENCY  # how long the last page of jobs took to come
        self._listed = (self._last_poll, 0)  # when the last list was asked for; requests by then

    def __repr__(self) -> str:
        return (
            f"<JobWatcher {self.kind.value} active={len(self.jobs)} lent={self.slots.lent} "
            f"polls={self.polls}>"
        )

    def track(self, job: Job, batch: Batch, *, posted_at: float | None = None) -> None:
        """Watch ``job`` (just created for ``batch`` by a POST that went at ``posted_at``)
        until it ends; it holds a job slot."""
        self._created += 1
        self._learn_from_estimate(job, len(batch))
        now = self._clock()
        if job.status.is_final:
            self._finish(job, batch, now)
            return
        # Once the input is all read, the jobs still to come are the last ones and their
        # retries: small, quick, and what the end of the run waits for.
        floor = END_POLL_SECONDS if self.ledger.input_done else MIN_POLL_SECONDS
        delay = first_poll_delay(job, len(batch), self.seconds_per_number, floor=floor)
        tracked = TrackedJob(
            job.id, batch, self._created, now + delay, sent_at=now, held_since=posted_at
        )
        self.jobs[job.id] = tracked
        self._plan(tracked)
        if self._next_due <= now:  # awake for this answer: lend what is due, no timer
            self._lends_due.ring()
        elif not self._answers_awaited():  # no answer will come first: lend on time
            self._lends_due.ring_before(self._next_due)

    def adopt(self, job_id: str, batch: Batch) -> None:
        """Watch a job an earlier run created (its slot already held); look at it first."""
        self._created += 1
        self.jobs[job_id] = TrackedJob(job_id, batch, self._created, self._clock())
        self._poll_now = True
        self._wake()

    def close(self) -> None:
        """No more jobs will come: return once the tracked ones have ended."""
        self._closing = True
        self._wake()

    def estimate_refused(self, posted_at: float) -> bool:
        """A submission posted at ``posted_at`` met the job cap. If slots are lent, an
        estimate was wrong: take them back, look at the jobs now, and say so (True). So
        it is too for a submission already on its way when they were taken back: the
        same wrong estimate. Else the cap is full of other clients' jobs (False)."""
        if not self.slots.lent:
            return posted_at <= self._reclaimed_at
        self._reclaim_all()
        self._reclaimed_at = self._clock()
        self._lending_held = True
        self._note_wrong_estimate()
        self._poll_now = True
        self._wake()
        return True

    async def run(self) -> None:
        # Lending goes on while a poll is on its way: a page of fifty jobs may take a
        # second to come and be settled, and the jobs that end meanwhile free their slots.
        async with anyio.create_task_group() as group:
            group.start_soon(self._lend_as_jobs_fall_due)
            while self.jobs or not self._closing:
                wake_at = self._next_round()
                if wake_at is None or wake_at > self._clock():
                    await self._rounds.sleep_until(wake_at, self._clock)
                    continue
                await self._poll_round()
            group.cancel_scope.cancel()

    async def _lend_as_jobs_fall_due(self) -> None:
        while True:
            await self._lends_due.sleep_until(self._lend_due(), self._clock)

    # -- scheduling ------------------------------------------------------------------

    def _next_round(self) -> float | None:
        """When to look at jobs next (None: not until something changes)."""
        if not self.jobs:
            return None
        due: float = min(map(_DUE, self.jobs.values()))
        if self._poll_now:
            return min(due, self._clock())
        if self._closing or self.ledger.nothing_to_submit:
            return self._end_round(due)
        if self._lends:
            return self._settle_time(due)
        # Slots are seen free only by polling: look when they are about to run out at the
        # rate submissions go, so one list brings back every job that ended meanwhile; and
        # at least now and then, so a slow job's progress is seen.
        # (Slots held by submitters still waiting for the rate limiter do not count: they
        # say nothing about the jobs.)
        free = self.slots.capacity - len(self.jobs)
        if free <= 0:
            return due
        rate = self.client.governor.share
        runs_out = self._clock() + free / rate - SLOT_LEAD
        return max(due, min(runs_out, self._last_poll + MAX_QUIET))

    def _end_round(self, due: float) -> float:
        """Only the jobs' ends (and what they send back to be tried again) stand between
        the run and its end.

        Look as soon as one is due when a job slot is wanted. Otherwise a look pays off
        once the jobs due by then are expected to send back enough numbers for a job
        worth its two requests (this look, and the POST that sends them again); or once
        every job is due. Where requests are scarce this gathers the tail's retries into
        few jobs; where they are plenty it looks at each job as it ends.
        """
        governor = self.client.governor
        # Where other processes share the pace, a slot waited for is mostly one they hold:
        # looking early would not free it, and costs the pace every process counts on.
        if (self.slots.waiting and governor.sharing == 1) or not self._lends:
            return due
        rate = governor.share
        seconds_per_number = self.seconds_per_number or 0.0
        worth = 2 / rate  # seconds of job time two requests are worth
        expected = 0.0
        by_due = sorted(self.jobs.values(), key=lambda job: job.due)
        for job in by_due:
            expected += self.ledger.retry_share * len(job.batch) * seconds_per_number
            if expected >= worth:
                return job.due
        return by_due[-1].due

    def _settle_time(self, due: float) -> float:
        """With slots lent at their jobs' estimates, look only to settle outcomes: a few
        seconds after the first is due, and no more often than keeps these looks to 1%
        of the pace (longer where other processes share the pace: each settles as rarely
        as one would alone); or before the due ones outgrow one list page."""
        # The jobs are kept in the order they were created: the first lent one is the
        # oldest, and most often the first of all.
        oldest_lent = next(filter(_LENT, self.jobs.values()), None)
        sharing = max(1, self.client.governor.sharing)
        span = SETTLE_SPAN // sharing  # the others' jobs fill the same list page
        if oldest_lent is not None:
            if self._created - oldest_lent.created_seq >= span:
                return self._clock()
            if self.ledger.input_read and self._last_poll < self._input_read_at:
                # The input has all been read: the failures of the jobs that ended so
                # far should join the last batches now, not follow them as a tail.
                return self._clock()
        # Where requests are what limits the run, each look delays a job by a request's
        # turn; the failures it brings back would join fresh batches either way.
        settle_after = max(SETTLE_AFTER * sharing, 1 / (SETTLE_COST * self.client.governor.share))
        return max(due, min(due + settle_after, self._last_poll + MAX_QUIET))

    @property
    def _lends(self) -> bool:
        return self.lending and not self._lending_held

    def _lend_due(self) -> float | None:
        """Lend the slot of every job whose estimated end has passed; return when the
        next is to be lent (None: no job to lend, or no lending): at its estimate, or
        while answers are on their way, as late as its ``lend_by``."""
        self._next_due = math.inf
        if not self._lends:
            return None
        now = self._clock()
        upcoming = next_due = math.inf
        for job in self.jobs.values():
            if job.lent:
                continue
            if job.due <= now:
                job.lent = True
                self.slots.lend()
                continue
            next_due = min(next_due, job.due)
            upcoming = min(upcoming, job.lend_by)
        self._next_due = next_due
        if not self._answers_awaited():
            upcoming = next_due
        return None if upcoming == math.inf else upcoming

    def _answers_awaited(self) -> bool:
        return self.client.governor.model.unanswered > 0

    def _reclaim_all(self) -> None:
        for job in self.jobs.values():
            if job.lent:
                job.lent = False
                self.slots.reclaim()

    def _note_wrong_estimate(self) -> None:
        self.wrong_estimates += 1
        if self.wrong_estimates >= WRONG_ESTIMATES:
            self.lending = False  # this server's estimates are not to be lent against

    def nudge(self) -> None:
        """Something that decides when to poll changed (the input ended, a cap dropped)."""
        if self.ledger.input_read and self._input_read_at == float("inf"):
            self._input_read_at = self._clock()
        self._wake()

    def _wake(self) -> None:
        self._rounds.ring()
        self._lends_due.ring()

    def _plan(self, job: TrackedJob) -> None:
        """``job`` joined: wake the lending task if its slot must be lent first, and the
        polling loop if it brings the next look forward (each would plan the same on
        waking; an earlier plan it keeps sees the new job when it comes)."""
        self._plan_lending(job)
        self._rounds.ring_before(self._next_round())

    def _plan_lending(self, job: TrackedJob) -> None:
        """``job``'s estimate is new: wake the lending task if its slot must go first."""
        self._next_due = min(self._next_due, job.due)
        self._lends_due.ring_before(job.lend_by)

    # -- polling ---------------------------------------------------------------------

    async def _poll_round(self) -> None:
        now = self._clock()
        self._last_poll = now
        self._poll_now = False
        due = [job for job in self.jobs.values() if job.due <= now + COALESCE]
        listable = [job for job in due if not job.missing_from_list]
        if len(listable) >= 2:
            await self._poll_by_list(listable)
            due = [job for job in due if job.missing_from_list and job.job_id in self.jobs]
        for tracked in due:
            await self._poll_one(tracked)
        self._lending_held = False  # what ended is settled: estimates may be lent again
        self._lends_due.ring()

    async def _poll_by_list(self, due: list[TrackedJob]) -> None:
        """Read the newest jobs, page by page, back to the oldest due one.

        Jobs created while a page is on its way push the older ones down the list, so a
        due job missing from a page is looked for on the next one; only one missing from
        where it should be is fetched by id.
        """
        oldest = min(job.created_seq for job in due)
        governor = self.client.governor
        # Room for the jobs of the other processes sharing the pace, created between ours,
        # and for the jobs that may be created while this page is on its way.
        ours = self._created - oldest + 1
        size = min(MAX_PAGE_SIZE, ours * max(1, governor.sharing) + self._list_slack())
        wanted = {job.job_id for job in due}
        for number in range(1, LIST_PAGES + 1):
            asked_at = self._clock()
            page = await self.client.list_jobs(self.kind, page_size=size, page_number=number)
            answered_at = self._clock()
            self._list_latency = answered_at - asked_at
            self.polls += 1
            reached = await self._take_page(page.jobs, wanted, asked_at, answered_at)
            if not wanted or reached <= oldest or number >= page.total_pages:
                break
        for tracked in due:
            if tracked.job_id in wanted:
                tracked.missing_from_list = True  # not where it should be: fetch by id

    def _list_slack(self) -> int:
        """Jobs that may be created while a page of jobs is on its way, pushing the due
        ones down the list: those of every call in this process (they all go through its
        governor), at the pace its requests have gone since the last list (at most the
        governor's rate) for as long as the last page took to come, with a margin; and a
        few of other clients'.

        Each job too many on a page is about 90 KB to read for nothing; each too few
        may cost a second page, a request. The pace is measured from one list to the
        next: this call marks where the next one's starts."""
        governor = self.client.governor
        now = self._clock()
        since, requests_then = self._listed
        self._listed = (now, governor.requests)
        rate = governor.model.rate
        if now > since:
            rate = min(rate, (governor.requests - requests_then) / (now - since))
        return LIST_SLACK + math.ceil(rate * LIST_MARGIN * self._list_latency)

    async def _take_page(
        self, jobs: Sequence[Job], wanted: set[str], asked_at: float, answered_at: float
    ) -> float:
        """Update the tracked jobs on a list page asked for at ``asked_at`` that came at
        ``answered_at``; return the oldest one's ``created_seq``.

        Settling a job's thousand numbers takes 0.1–0.5 ms: other tasks (a request
        whose turn has come) run after every few jobs, not after fifty; and a yield
        after each job would cost a turn of the loop for each.
        """
        reached = math.inf
        taken = 0
        for job in jobs:
            tracked = self.jobs.get(job.id)
            if tracked is None:
                continue
            reached = min(reached, tracked.created_seq)
            wanted.discard(tracked.job_id)
            self._update(tracked, job, asked_at, answered_at)
            taken += 1
            if taken % JOBS_BETWEEN_YIELDS == 0:
                await anyio.lowlevel.checkpoint()
        return reached

    async def _poll_one(self, tracked: TrackedJob) -> None:
        asked_at = self._clock()
        try:
            job = await self.client.get_job(tracked.job_id)
        except NotFoundError:
            job = vanished_job(tracked.job_id, self.kind.value, tracked.batch)
        self.polls += 1
        self._update(tracked, job, asked_at, self._clock())

    def _update(self, tracked: TrackedJob, job: Job, asked_at: float, answered_at: float) -> None:
        """What a look says of a tracked job: the server saw it between ``asked_at`` (the
        look may have waited its turn and travelled since, so the job may even have been
        created after it) and ``answered_at``."""
        if job.status.is_final:
            del self.jobs[tracked.job_id]
            if tracked.lent:
                self.slots.reclaim()  # returned for good by the release below
            self._finish(job, tracked.batch, tracked.sent_at)
            return
        if tracked.lent and asked_at < tracked.due:
            return  # the look is older than the estimate it was lent on: it says nothing
        if tracked.lent:  # its estimate was wrong: the job still holds its slot
            tracked.lent = False
            self.slots.reclaim()
            self._note_wrong_estimate()
        tracked.polls += 1
        # Its end is estimated from the latest moment the server can have seen it at: an
        # estimate from an earlier one would lend its slot before the job ends.
        tracked.due = answered_at + next_poll_delay(job, self.seconds_per_number, tracked.polls)
        self._plan_lending(tracked)

    def _finish(self, job: Job, batch: Batch, sent_at: float | None) -> None:
        self.slots.release()
        self.ledger.finish_job(job, batch, sent_at=sent_at)
        self.ledger.progress()

    # -- learning how long a number takes --------------------------------------------
    # From the server's own estimates: what polling observes is only as fine as the polls.

    def _learn_from_estimate(self, job: Job, size: int) -> None:
        if job.etc is not None and job.created_at is not None and size:
            duration = max(0.0, (job.etc - job.created_at).total_seconds())
            self._blend(duration / size)
            # Other clients' jobs are likely as long as ours: wait that long before
            # asking for a job slot back after the account's cap refused one.
            self.slots.set_probe_interval(duration)

    def _blend(self, sample: float) -> None:
        previous = self.seconds_per_number
        self.seconds_per_number = sample if previous is None else 0.8 * previous + 0.2 * sample
