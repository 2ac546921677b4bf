"""The watcher's judgement of a job-cap refusal (a wrong estimate, or other clients' jobs),
and when it looks only to settle the outcomes of jobs whose slots are lent."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from bulkupdate.api.governors import JobSlots
from bulkupdate.budget.slots import RunSlots, SharedSlots
from bulkupdate.engine.watcher import JobWatcher, TrackedJob
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
