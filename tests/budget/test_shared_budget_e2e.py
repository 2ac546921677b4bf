"""Many calls on one ``BulkUpdater`` at once, end to end over loopback: they share the
account's job cap without a refusal, a small call is not kept waiting behind a large one,
and calls cancelled or failed leave the budget exact for the calls after them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from bulkupdate import BulkUpdater, Outcome, Progress, UpdateResult
from bulkupdate.api.client import ApiClient
from bulkupdate.budget.slots import RoundRobin
from bulkupdate.request.spec import JobKind
from tests.conftest import StartSandbox

UPDATE = {"tags": ["shared"]}


def numbers(count: int, start: int) -> list[str]:
    return [f"+1312{start + n:07d}" for n in range(count)]


async def test_fifty_calls_at_once_keep_within_the_accounts_cap(
    start_sandbox: StartSandbox,
) -> None:
    # Jobs of half a second: long enough that a slow machine still fills the slots.
    sandbox = await start_sandbox(job_cap=20, op_ms=5.0, rate=500, checked=False)
    results: list[UpdateResult] = []
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=100, max_active_jobs=20
    ) as updater:

        async def call(n: int) -> None:
            results.append(await updater.update(numbers(100, 2_000_000 + 1000 * n), UPDATE))

        async with anyio.create_task_group() as group:
            for n in range(50):
                group.start_soon(call, n)
        account = updater.budget.slots.account
        assert (account.active, account.lent, updater.budget.slots.door.waiting) == (0, 0, 0)
    assert len(results) == 50
    assert all(result.totals.succeeded == 100 for result in results)
    jobs = sandbox.stats()["jobs"]
    assert jobs["created"] >= 50  # (a call's last jobs may be split, to end together)
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0
    assert 15 <= jobs["peak_active"] <= 20  # the slots used, and never one more
    assert jobs["refused_at_cap"] == 0
    assert sum(result.stats.cap_refusals for result in results) == 0


class DoorWatch:
    """Counts the job slots the runs sharing ``door`` were granted, and notes what stood
    at the door when a second run first came to it."""

    def __init__(self, door: RoundRobin) -> None:
        self.door = door
        self.granted: Counter[object] = Counter()
        self.first: object | None = None
        # When the second run came: (slots granted to the first so far, its waiters queued).
        self.second_came: tuple[int, int] | None = None
        self._go_through = door.go_through
        door.go_through = self.go_through  # type: ignore[method-assign]

    async def go_through(self, party: object, action: Callable[[], Awaitable[None]]) -> None:
        if self.first is None:
            self.first = party
        elif party is not self.first and self.second_came is None:
            self.second_came = (self.granted[self.first], self.door.queued)
        await self._go_through(party, action)
        self.granted[party] += 1


async def test_a_small_call_during_a_large_one_gets_its_turn(
    start_sandbox: StartSandbox,
) -> None:
    """Round-robin, told by the order the account's jobs were created in (not by time):
    the small call's job is the next one created once the large call's submitter already
    at the door has had its slot, ahead of the large call's others waiting there."""
    batch = 10
    sandbox = await start_sandbox(job_cap=20, pending_ms=5.0, op_ms=20.0, rate=500, checked=False)
    every_slot_taken = anyio.Event()

    def progress(snapshot: Progress) -> None:
        if snapshot.active_jobs >= 20:
            every_slot_taken.set()

    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=batch, max_active_jobs=20
    ) as updater:
        door = DoorWatch(updater.budget.slots.door)
        small_result: list[UpdateResult] = []

        async def large() -> None:
            # Six rounds of the account's twenty slots.
            await updater.update(numbers(1_200, 3_000_000), UPDATE, on_progress=progress)

        async def small() -> None:
            await every_slot_taken.wait()
            small_result.append(await updater.update(numbers(batch, 4_000_000), UPDATE))

        async with anyio.create_task_group() as group:
            group.start_soon(large)
            group.start_soon(small)
    [result] = small_result
    assert result.totals.succeeded == batch
    [small_job] = {job_id for outcome in result.outcomes for job_id in outcome.job_ids}
    async with ApiClient("k", base_url=sandbox.base_url, rate=500) as client:
        page = await client.list_jobs(JobKind.UPDATE, page_size=250)
    oldest_first = [job.id for job in reversed(page.jobs)]
    assert len(oldest_first) >= 121  # (the last jobs may be split, to end together)
    assert door.second_came is not None
    large_granted, large_queued = door.second_came
    # First come, first served would have put the large call's queued submitters first.
    assert large_queued >= 2
    # Before the small job: the large call's jobs whose slots it had been granted, and
    # the one whose turn it was when the small call came, at most.
    assert oldest_first.index(small_job) <= large_granted + 1
    assert sandbox.stats()["jobs"]["refused_at_cap"] == 0


class Exploding:
    """A sink that fails the call it is given to, as a caller's bug would."""

    def record(self, outcome: Outcome) -> None:
        raise RuntimeError("the caller's sink failed")


async def test_calls_cancelled_or_failed_leave_the_budget_exact(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(job_cap=8, op_ms=1.0, rate=500, checked=False)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=50, max_active_jobs=8
    ) as updater:
        budget = updater.budget
        failures: list[BaseException] = []

        async def cancelled(n: int) -> None:
            with anyio.CancelScope() as scope:

                def progress(snapshot: Progress) -> None:
                    if snapshot.batches_submitted >= 2:
                        scope.cancel()  # jobs of this call are left running

                await updater.update(
                    numbers(1_000, 5_000_000 + 10_000 * n), UPDATE, on_progress=progress
                )
            assert scope.cancelled_caught

        async def failing() -> None:
            try:
                await updater.update(numbers(500, 6_000_000), UPDATE, sink=Exploding())
            except* RuntimeError as group:
                failures.extend(group.exceptions)

        async def completed(n: int) -> None:
            result = await updater.update(numbers(300, 7_000_000 + 10_000 * n), UPDATE)
            assert result.totals.succeeded == 300

        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(cancelled, n)
                group.start_soon(completed, n)
            group.start_soon(failing)
        assert len(failures) == 1
        # The jobs the cancelled calls left hold their slots until due, then no more:
        # a call after them has the whole cap again, without a refusal.
        after = await updater.update(numbers(1_600, 8_000_000), UPDATE)
        assert after.totals.succeeded == 1_600
        assert after.stats.cap_refusals == 0
        assert after.stats.final_job_cap == 8
        account = budget.slots.account
        assert (account.held, budget.slots.door.waiting) == (0, 0)
    stats: dict[str, Any] = sandbox.stats()
    assert stats["jobs"]["refused_at_cap"] == 0
    assert stats["jobs"]["peak_active"] <= 8
