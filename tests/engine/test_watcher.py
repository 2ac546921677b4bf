"""The watcher's judgement of a job-cap refusal (a wrong estimate, or other clients' jobs),
when it looks only to settle the outcomes of jobs whose slots are lent, and when a job a
look found running is due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bulkupdate.api.governors import JobSlots
from bulkupdate.api.job_lists import Operation
from bulkupdate.api.wire import Job, JobsPage, JobStatus
from bulkupdate.budget.slots import RunSlots, SharedSlots
from bulkupdate.engine.watcher import JobWatcher, TrackedJob
from bulkupdate.input.batching import Batch, EntryKind
from bulkupdate.request.spec import JobKind


def watcher_at(now: list[float]) -> tuple[JobWatcher, RunSlots]:
    clock = lambda: now[0]  # noqa: E731
    slots = SharedSlots(JobSlots(4, clock=clock), clock=clock).for_run()
    # Judging a refusal reads only the slots and the clock.
    unused = cast(Any, None)
    watcher = JobWatcher(unused, JobKind.UPDATE, unused, slots, clock=lambda: now[0])
    return watcher, slots


def lend(watcher: JobWatcher, slots: RunSlots, job_id: str) -> None:
    """A running job whose estimated end has passed, its slot lent to the next job."""
    watcher.jobs[job_id] = TrackedJob(job_id, cast(Any, None), 1, due=0.0, lent=True)
    slots.lend()


def test_a_refusal_while_slots_are_lent_is_a_wrong_estimate() -> None:
    now = [10.0]
    watcher, slots = watcher_at(now)
    lend(watcher, slots, "a")
    assert watcher.estimate_refused(posted_at=9.9)
    assert (slots.lent, watcher.wrong_estimates) == (0, 1)


def test_a_refusal_of_a_post_already_on_its_way_is_the_same_wrong_estimate() -> None:
    now = [10.0]
    watcher, slots = watcher_at(now)
    lend(watcher, slots, "a")
    lend(watcher, slots, "b")
    assert watcher.estimate_refused(posted_at=9.9)
    now[0] = 10.05
    # Posted on the other lent slot before they were taken back: not other clients' jobs.
    assert watcher.estimate_refused(posted_at=9.95)
    assert watcher.wrong_estimates == 1


def test_a_refusal_with_nothing_lent_is_other_clients_jobs() -> None:
    now = [10.0]
    watcher, slots = watcher_at(now)
    assert not watcher.estimate_refused(posted_at=9.9)
    lend(watcher, slots, "a")
    assert watcher.estimate_refused(posted_at=9.9)
    now[0] = 12.0
    assert not watcher.estimate_refused(posted_at=11.0)  # posted after they were taken back


@pytest.mark.parametrize(("rate", "settles_at"), [(10.0, 10.0), (20.0, 5.0), (100.0, 5.0)])
def test_settling_looks_take_at_most_one_percent_of_the_pace(
    rate: float, settles_at: float
) -> None:
    now = [0.0]
    slots = SharedSlots(JobSlots(20, clock=lambda: now[0]), clock=lambda: now[0]).for_run()
    client = SimpleNamespace(governor=SimpleNamespace(share=rate, sharing=1))
    ledger = SimpleNamespace(input_read=False, nothing_to_submit=False)
    watcher = JobWatcher(
        cast(Any, client), JobKind.UPDATE, cast(Any, ledger), slots, clock=lambda: now[0]
    )
    lend(watcher, slots, "a")  # due at 0, its slot lent: only its outcome is left to see
    assert watcher._next_round() == settles_at


async def test_a_list_page_has_room_for_the_jobs_created_while_it_comes_at_their_pace() -> None:
    """The page holds the jobs from the oldest due one on, and room for those created
    while it is on its way, by any call of the process: twice as many as the pace of its
    requests since the last list would make in the time the last page took (the
    governor's rate at most), and a few of other clients'."""
    now = [0.0]
    asked: list[int] = []

    class Client:
        governor = SimpleNamespace(sharing=1, requests=0, model=SimpleNamespace(rate=100.0))

        async def list_jobs(self, kind: JobKind, *, page_size: int, page_number: int) -> JobsPage:
            asked.append(page_size)
            now[0] += 0.4  # each page takes 0.4 s to come
            return JobsPage((), 1, 1, 0)

    slots = SharedSlots(JobSlots(20, clock=lambda: now[0]), clock=lambda: now[0]).for_run()
    watcher = JobWatcher(
        cast(Any, Client()), JobKind.UPDATE, cast(Any, None), slots, clock=lambda: now[0]
    )

    async def list_back_to(created: int, oldest_due: int, at: float) -> None:
        # Each request a job of this run or another call's: the governor counts them all.
        watcher._created, Client.governor.requests, now[0] = created, created, at
        await watcher._poll_by_list([TrackedJob("a", cast(Any, None), oldest_due, due=0.0)])

    # 10 requests in the first 10 s, and no page seen yet: 0.5 s assumed. 3 jobs + 5 + 1.
    await list_back_to(10, oldest_due=8, at=10.0)
    # 40 in the next 10 s, and the last page took 0.4 s: 3 + 5 + ⌈4 × 2 × 0.4⌉.
    await list_back_to(50, oldest_due=48, at=20.0)
    # 100 in 10 s, more than the governor's 5 a second allows: 3 + 5 + ⌈5 × 2 × 0.4⌉.
    Client.governor.model.rate = 5.0
    await list_back_to(150, oldest_due=148, at=30.4)
    assert asked == [9, 12, 12]


class SlowListing:
    """A client whose page of jobs comes half a second after it was asked for, listing
    a job still running with ten numbers to go."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.governor = SimpleNamespace(model=SimpleNamespace(rate=10.0), sharing=1, requests=0)

    async def list_jobs(self, kind: JobKind, *, page_size: int, page_number: int) -> Any:
        self.now[0] += 0.5  # the look waited its turn and travelled
        pending = tuple(Operation(phone_number=f"+1312555{n:04d}") for n in range(10))
        running = [
            Job(job_id, "update_phone_numbers", JobStatus.IN_PROGRESS, None, None, (), (), pending)
            for job_id in ("a", "b")
        ]
        return SimpleNamespace(jobs=running, total_pages=1)


async def test_a_running_job_is_due_from_when_the_look_came_back_not_when_it_was_asked() -> None:
    now = [10.0]
    slots = SharedSlots(JobSlots(4, clock=lambda: now[0]), clock=lambda: now[0]).for_run()
    watcher = JobWatcher(
        cast(Any, SlowListing(now)), JobKind.UPDATE, cast(Any, None), slots, clock=lambda: now[0]
    )
    watcher.seconds_per_number = 0.05
    tracked = [TrackedJob(job_id, cast(Any, None), 1, due=10.0) for job_id in ("a", "b")]
    watcher.jobs = {job.job_id: job for job in tracked}
    await watcher._poll_by_list(tracked)
    # The server saw them as late as 10.5 (they may even have been created after 10.0):
    # ten numbers at 0.05 s each end them no sooner than 11.0, so their slots are not lent
    # before then.
    assert [job.due for job in tracked] == [11.0, 11.0]


async def test_a_new_job_wakes_the_watchers_tasks_only_if_due_before_they_planned() -> None:
    """The lending task sleeps until the next job is due, the polling loop until its
    next look: a job due later than both wakes neither (each sees it when it wakes), a
    job due sooner wakes both to plan again."""
    now = [0.0]
    slots = SharedSlots(JobSlots(20, clock=lambda: now[0]), clock=lambda: now[0]).for_run()
    model = SimpleNamespace(unanswered=0)
    client = SimpleNamespace(governor=SimpleNamespace(share=10.0, sharing=1, model=model))
    ledger = SimpleNamespace(input_done=False, input_read=False, nothing_to_submit=False)
    watcher = JobWatcher(
        cast(Any, client), JobKind.UPDATE, cast(Any, ledger), slots, clock=lambda: now[0]
    )
    created = datetime(2026, 1, 1, tzinfo=UTC)

    def track(job_id: str, due_in: float) -> None:
        etc = created + timedelta(seconds=due_in)  # the server's own estimate
        job = Job(job_id, "update_phone_numbers", JobStatus.PENDING, etc, created)
        watcher.track(job, Batch(EntryKind.NUMBER, ("+13125550100",)))

    track("first", due_in=2.0)
    # The two tasks asleep, as their loops put them (their timers are in real seconds).
    clock = lambda: now[0]  # noqa: E731
    lender = asyncio.ensure_future(watcher._lends_due.sleep_until(watcher._lend_due(), clock))
    rounds = asyncio.ensure_future(watcher._rounds.sleep_until(watcher._next_round(), clock))
    await settle()
    # The first job's due, and 10 s after it: settling takes 1% of a pace of 10 a second.
    assert (watcher._lends_due.planned, watcher._rounds.planned) == (2.0, 12.0)
    try:
        track("later", due_in=3.0)
        await settle()
        assert (lender.done(), rounds.done()) == (False, False)
        track("sooner", due_in=1.0)
        await settle()
        assert (lender.done(), rounds.done()) == (True, True)
    finally:
        lender.cancel()
        rounds.cancel()


def lending_watcher(now: list[float], *, on_their_way: int) -> tuple[JobWatcher, RunSlots]:
    """A watcher that lends slots at its jobs' estimates, with 20 slots and a pace of 10,
    and ``on_their_way`` requests unanswered."""
    slots = SharedSlots(JobSlots(20, clock=lambda: now[0]), clock=lambda: now[0]).for_run()
    model = SimpleNamespace(unanswered=on_their_way)
    client = SimpleNamespace(governor=SimpleNamespace(share=10.0, sharing=1, model=model))
    ledger = SimpleNamespace(input_done=False, input_read=False, nothing_to_submit=False)
    watcher = JobWatcher(
        cast(Any, client), JobKind.UPDATE, cast(Any, ledger), slots, clock=lambda: now[0]
    )
    return watcher, slots


def track_posted(
    watcher: JobWatcher, job_id: str, *, posted_at: float | None, due_in: float
) -> None:
    """A job the server estimates to end ``due_in`` seconds from now, posted at ``posted_at``."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job(
        job_id,
        "update_phone_numbers",
        JobStatus.PENDING,
        created + timedelta(seconds=due_in),
        created,
    )
    watcher.track(job, Batch(EntryKind.NUMBER, ("+13125550100",)), posted_at=posted_at)


async def test_a_due_slot_is_lent_at_the_next_answer_and_by_a_timer_only_a_little_later() -> None:
    """Waking an idle process costs more than lending a slot: while answers are on their
    way, a due job's slot waits for the next, up to 50 ms (and a tenth of the time the
    job has held it) after its estimate, before a timer of its own lends it."""
    now = [0.0]
    watcher, slots = lending_watcher(now, on_their_way=3)
    clock = lambda: now[0]  # noqa: E731
    track_posted(watcher, "long", posted_at=0.0, due_in=2.0)  # held 2 s by its estimate
    lender = asyncio.ensure_future(watcher._lends_due.sleep_until(watcher._lend_due(), clock))
    await settle()
    assert watcher._lends_due.planned == pytest.approx(2.05)
    try:
        now[0] = 2.02  # due, and another job's answer comes before the timer
        track_posted(watcher, "next", posted_at=1.5, due_in=2.0)
        await settle()
        assert lender.done()
        assert watcher._lend_due() == pytest.approx(4.07)  # "next": 4.02 + 0.05
        assert (slots.lent, watcher.jobs["long"].lent, watcher.jobs["next"].lent) == (
            1,
            True,
            False,
        )
    finally:
        lender.cancel()


def test_a_short_jobs_slot_waits_at_most_a_tenth_of_its_time() -> None:
    now = [10.0]
    watcher, _ = lending_watcher(now, on_their_way=3)
    track_posted(watcher, "short", posted_at=9.9, due_in=0.2)  # due at 10.2, held 0.3 s
    track_posted(watcher, "unknown", posted_at=None, due_in=0.5)
    assert watcher.jobs["short"].lend_by == pytest.approx(10.23)
    assert watcher.jobs["unknown"].lend_by == pytest.approx(10.5)  # no slack to measure


async def test_with_no_answer_on_its_way_a_slot_is_lent_at_the_estimate() -> None:
    """No answer will wake the process before a timer would: the slot goes at once."""
    now = [0.0]
    watcher, _ = lending_watcher(now, on_their_way=0)
    clock = lambda: now[0]  # noqa: E731
    track_posted(watcher, "long", posted_at=0.0, due_in=2.0)
    assert watcher._lend_due() == 2.0
    # A sleep planned while answers were awaited ends at the estimate once none are.
    watcher.client.governor.model.unanswered = 1
    lender = asyncio.ensure_future(watcher._lends_due.sleep_until(watcher._lend_due(), clock))
    await settle()
    assert watcher._lends_due.planned == pytest.approx(2.05)
    try:
        watcher.client.governor.model.unanswered = 0  # the last answer: a job of its own
        track_posted(watcher, "next", posted_at=0.5, due_in=2.0)
        await settle()
        assert lender.done()
        assert watcher._lend_due() == 2.0
    finally:
        lender.cancel()


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(10):
        await asyncio.sleep(0)
