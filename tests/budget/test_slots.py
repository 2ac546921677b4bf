"""Job slots shared by runs: round-robin turns, and a budget left exact by runs that are
cancelled while they wait or end with jobs still running."""

from __future__ import annotations

from typing import Any

import anyio

from bulkupdate.api.governors import JobSlots
from bulkupdate.budget.slots import RoundRobin, SharedSlots


async def test_runs_waiting_for_a_slot_take_turns() -> None:
    shared = SharedSlots(JobSlots(1))
    big, small, holder = shared.for_run(), shared.for_run(), shared.for_run()
    await holder.acquire()
    order: list[str] = []

    async def wait(slots: object, name: str) -> None:
        assert slots is big or slots is small
        await slots.acquire()
        order.append(name)

    async with anyio.create_task_group() as group:
        for n in range(3):
            group.start_soon(wait, big, f"big{n}")
            await anyio.wait_all_tasks_blocked()
        group.start_soon(wait, small, "small")
        await anyio.wait_all_tasks_blocked()
        assert shared.door.waiting == 4
        holder.release()
        for finished in range(1, 5):
            await anyio.wait_all_tasks_blocked()
            assert len(order) == finished
            (big if order[-1].startswith("big") else small).release()
    # The small run's one waiter went second, not after every one of the big run's.
    assert order == ["big0", "small", "big1", "big2"]
    assert (shared.account.held, shared.door.waiting) == (0, 0)


async def test_a_run_cancelled_while_waiting_leaves_the_slots_exact() -> None:
    shared = SharedSlots(JobSlots(1))
    first, second, third = shared.for_run(), shared.for_run(), shared.for_run()
    await first.acquire()
    async with anyio.create_task_group() as group:
        group.start_soon(second.acquire)  # at the door, waiting for the slot
        await anyio.wait_all_tasks_blocked()
        group.start_soon(third.acquire)  # queued behind it
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert (second.active, third.active, shared.door.waiting) == (0, 0, 0)
    first.release()
    assert shared.account.held == 0
    with anyio.fail_after(1):
        await third.acquire()  # nobody left stands in the way
    assert shared.account.held == 1


async def test_a_waiter_cancelled_as_its_turn_comes_hands_the_turn_on() -> None:
    door = RoundRobin()
    done = anyio.Event()
    went: list[str] = []

    async def go(party: str, until: anyio.Event | None = None) -> None:
        async def inside() -> None:
            went.append(party)
            if until is not None:
                await until.wait()

        await door.go_through(party, inside)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(go, "a", done)
            await anyio.wait_all_tasks_blocked()
            b_scope = anyio.CancelScope()
            group.start_soon(go_in_scope, b_scope, go, "b")
            group.start_soon(go, "c")
            await anyio.wait_all_tasks_blocked()
            done.set()  # "a" hands the turn to "b", which is cancelled before it runs
            b_scope.cancel()
    assert went == ["a", "c"]
    assert door.waiting == 0


async def go_in_scope(scope: anyio.CancelScope, go: Any, party: str) -> None:
    with scope:
        await go(party)


async def test_jobs_a_run_leaves_running_keep_their_slots_until_due() -> None:
    shared = SharedSlots(JobSlots(3))
    ended, other = shared.for_run(), shared.for_run()
    for _ in range(3):
        await ended.acquire()
    ended.lend()  # one job is past its estimate
    soon = anyio.current_time() + 0.05
    ended.leave([(soon, False), (soon + 60, True)])  # the third had no job
    assert (ended.active, ended.lent) == (0, 0)
    assert shared.account.held == 1  # the job due soon, still running on the server
    for _ in range(2):
        await other.acquire()
    with anyio.fail_after(5):
        await other.acquire()  # when the job left running is due
    assert anyio.current_time() >= soon
    assert (shared.account.held, other.capacity) == (3, 3)


async def test_a_run_waiting_for_a_slot_gets_one_when_jobs_left_running_are_due() -> None:
    shared = SharedSlots(JobSlots(2))
    ended, waiting = shared.for_run(), shared.for_run()
    for _ in range(2):
        await ended.acquire()
    soon = anyio.current_time() + 0.05

    async def leave_once_it_waits() -> None:
        await anyio.wait_all_tasks_blocked()  # its turn, every slot held, no job due yet
        ended.leave([(soon, False), (soon + 60, False)])  # both jobs still running
        assert shared.account.held == 2

    async with anyio.create_task_group() as group:
        group.start_soon(leave_once_it_waits)
        with anyio.fail_after(5):
            await waiting.acquire()  # the first job's slot, once it is due
    assert anyio.current_time() >= soon
    assert (shared.account.held, waiting.active, shared.door.waiting) == (2, 1, 0)


async def test_a_run_sees_its_own_jobs_and_the_accounts_free_room() -> None:
    shared = SharedSlots(JobSlots(5))
    one, two = shared.for_run(), shared.for_run()
    for _ in range(2):
        await one.acquire()
    await two.acquire()
    assert (one.held, one.capacity, two.held, two.capacity) == (2, 4, 1, 3)
    two.refused()  # the account's cap: the room shrinks to what the runs hold, less one
    assert (shared.account.capacity, two.refusals, one.refusals) == (2, 1, 0)
    assert (one.capacity, two.capacity) == (2, 1)
