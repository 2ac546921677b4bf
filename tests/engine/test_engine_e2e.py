"""The engine end to end: real loopback HTTP against the sandbox, every exchange held to
the OpenAPI contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from bulkupdate import AuthError, BulkUpdater, OutcomeStatus, Progress
from bulkupdate.api.client import ApiClient
from tests.conftest import StartSandbox

UPDATE = {"tags": ["migrated"], "voice": {"call_forwarding": {"forwards_to": "+13035559123"}}}


def numbers(count: int, start: int = 2_000_000) -> list[str]:
    """Valid, distinct Chicago numbers."""
    return [f"+1312{start + n:07d}" for n in range(count)]


def by_status(result: Any) -> dict[OutcomeStatus, set[str]]:
    found: dict[OutcomeStatus, set[str]] = {status: set() for status in OutcomeStatus}
    for outcome in result.outcomes:
        found[outcome.status].add(outcome.value)
    return found


async def test_transient_failures_are_retried_and_permanent_ones_fail_with_the_api_error(
    start_sandbox: StartSandbox,
) -> None:
    every = numbers(10_000)
    invalid = set(every[::50])  # 2%, spread across batches
    sandbox = await start_sandbox(fail_rate=0.05, invalid_numbers=invalid, rate=50, seed=3)
    async with BulkUpdater(api_key="k", base_url=sandbox.base_url, rate=50) as updater:
        result = await updater.update(every, UPDATE)

    outcomes = by_status(result)
    assert outcomes[OutcomeStatus.FAILED] == invalid
    assert outcomes[OutcomeStatus.SUCCEEDED] == set(every) - invalid
    for outcome in result.with_status("failed"):
        (error,) = outcome.errors
        assert error["code"] == "10015"
        assert error["detail"] == "The field is invalid."
        assert error["source"]["pointer"].startswith("/")
    assert result.totals.retried > 0  # 5% transient failures did happen, and were retried
    stats = sandbox.stats()
    assert stats["numbers"]["reapplied_after_success"] == 0
    assert stats["jobs"]["peak_active"] <= 20
    assert stats["jobs"]["overlapping"] == 0
    assert stats["rate"]["peak_in_any_second"] <= 50 + 1  # the limit plus the bucket's burst
    # The update really landed.
    landed = sandbox.number(every[1])
    assert landed is not None
    assert landed["tags"] == ["migrated"]
    assert landed["voice"]["call_forwarding"]["forwards_to"] == "+13035559123"


async def test_a_run_at_three_times_the_servers_rate_converges(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(rate=10)
    every = numbers(3_000)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=30, batch_size=100
    ) as updater:
        result = await updater.update(every, UPDATE)
    assert result.totals.succeeded == 3_000
    stats = sandbox.stats()
    # The headers slow it down before 429s do: a few at most while it learns the window.
    assert stats["requests"]["by_status"]["429"] <= 5
    assert result.stats.final_rate <= 10.5


async def test_lost_answers_to_posts_create_no_duplicate_jobs(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(
        drop_after_create_rate=0.3, error_after_create_rate=0.3, rate=100, seed=5
    )
    every = numbers(2_000)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=100, batch_size=100, timeout=5
    ) as updater:
        result = await updater.update(every, UPDATE)
    assert result.totals.succeeded == 2_000
    assert result.stats.reconciled > 0  # answers were lost, and their jobs found
    stats = sandbox.stats()
    assert stats["faults"]["dropped_after_create"] + stats["faults"]["errors_after_create"] > 0
    assert stats["jobs"]["created"] == result.stats.jobs_created  # not one job more
    assert stats["jobs"]["overlapping"] == 0
    assert stats["numbers"]["reapplied_after_success"] == 0


async def test_plain_server_errors_are_sent_again(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(error_rate=0.2, rate=100, seed=2)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=100, batch_size=100
    ) as updater:
        result = await updater.update(numbers(1_000), UPDATE)
    assert result.totals.succeeded == 1_000
    assert sandbox.stats()["faults"]["errors"] > 0
    assert sandbox.stats()["jobs"]["overlapping"] == 0


@pytest.mark.parametrize("mode", ["bisect", "inventory", "auto"])
async def test_an_ownership_refusal_fails_only_the_unowned_numbers(
    start_sandbox: StartSandbox, mode: str
) -> None:
    owned = numbers(600)
    strangers = numbers(6, start=9_000_000)
    every = owned[:]
    for position, stranger in zip((5, 150, 151, 320, 480, 599), strangers, strict=True):
        every.insert(position, stranger)
    sandbox = await start_sandbox(own_all=False, inventory=owned, rate=200)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=200, batch_size=100, ownership=mode
    ) as updater:
        result = await updater.update(every, UPDATE)
    outcomes = by_status(result)
    assert outcomes[OutcomeStatus.FAILED] == set(strangers)
    assert outcomes[OutcomeStatus.SUCCEEDED] == set(owned)
    for outcome in result.with_status("failed"):
        assert outcome.errors[0]["detail"] == "You must own every number in the bulk request"
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0
    if mode == "inventory":
        assert result.stats.ownership.bisect_requests == 0
    if mode == "bisect":
        assert result.stats.ownership.inventory_requests == 0


async def test_jobs_go_out_while_the_inventory_is_still_being_read(
    start_sandbox: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long listing must not leave the job slots idle: what the pages read so far list
    is sent before the last pages are asked for. Here those wait for a job of at least
    half a batch to be created: a run that held every batch until its listing was whole
    would never create one, and would stop at the time limit."""
    owned = numbers(2_000)  # 8 pages
    strangers = numbers(20, start=9_000_000)
    every = owned[:]
    for n, stranger in enumerate(strangers):
        every.insert(n * 101 + 50, stranger)  # one in every batch of 100
    sandbox = await start_sandbox(own_all=False, inventory=owned, rate=500)
    job_sent = anyio.Event()
    list_page, create_job = ApiClient.list_phone_numbers, ApiClient.create_job

    async def last_pages_after_a_job(self: ApiClient, **query: Any) -> Any:
        if query.get("page_number", 1) > 6:
            with anyio.fail_after(10):
                await job_sent.wait()
        return await list_page(self, **query)

    async def noting_jobs(self: ApiClient, kind: Any, body: bytes, params: Any = ()) -> Any:
        job = await create_job(self, kind, body, params)
        if len(job.phone_numbers) >= 50:
            job_sent.set()
        return job

    monkeypatch.setattr(ApiClient, "list_phone_numbers", last_pages_after_a_job)
    monkeypatch.setattr(ApiClient, "create_job", noting_jobs)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=100, ownership="inventory"
    ) as updater:
        result = await updater.update(every, UPDATE)
    outcomes = by_status(result)
    assert outcomes[OutcomeStatus.FAILED] == set(strangers)
    assert outcomes[OutcomeStatus.SUCCEEDED] == set(owned)
    assert result.stats.ownership.inventory_requests == 8
    assert result.stats.ownership.bisect_requests == 0
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0


async def test_unlisted_numbers_are_tried_before_they_fail(start_sandbox: StartSandbox) -> None:
    """A server that adopts numbers on sight lists only what it has seen: the inventory is
    incomplete, and its word on unlisted numbers must not fail owned numbers."""
    sandbox = await start_sandbox(own_all=True, unowned_numbers={"+13129000000"}, rate=200)
    every = [*numbers(300), "+13129000000"]
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=200, batch_size=50, ownership="inventory"
    ) as updater:
        result = await updater.update(every, UPDATE)
    assert by_status(result)[OutcomeStatus.FAILED] == {"+13129000000"}
    assert result.totals.succeeded == 300


async def test_a_bad_key_stops_the_run_and_fails_nothing(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(api_key="the-right-key")
    seen: list[Any] = []

    class Sink:
        def record(self, outcome: Any) -> None:
            seen.append(outcome)

    async with BulkUpdater(api_key="wrong", base_url=sandbox.base_url) as updater:
        with pytest.raises(AuthError) as raised:
            await updater.update(numbers(50), UPDATE, sink=Sink())
    assert raised.value.status == 401
    assert "wrong" not in str(raised.value)
    assert not [o for o in seen if o.status is OutcomeStatus.FAILED]


async def test_expired_jobs_leave_their_numbers_to_be_retried(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(stall_rate=0.5, job_ttl=0.3, op_ms=0.5, rate=100, seed=11)
    every = numbers(1_000)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=100, batch_size=100, max_attempts=8
    ) as updater:
        result = await updater.update(every, UPDATE)
    assert sandbox.stats()["jobs"]["expired"] > 0
    assert result.totals.succeeded == 1_000
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0


async def test_other_jobs_on_the_account_lower_the_runs_job_slots(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(job_cap=5, op_ms=1.0, rate=200)
    # Someone else holds three long jobs (1000 numbers at 1 ms each).
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer other"}) as session:
        for start in (5_000_000, 6_000_000, 7_000_000):
            body = {"phone_numbers": numbers(1000, start=start), "tags": ["other"]}
            url = sandbox.base_url + "/phone_numbers/jobs/update_phone_numbers"
            async with session.post(url, json=body) as answer:
                assert answer.status == 202
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=200, batch_size=10, max_active_jobs=5
    ) as updater:
        result = await updater.update(numbers(200), UPDATE)
    assert result.totals.succeeded == 200
    assert result.stats.cap_refusals >= 1
    assert sandbox.stats()["jobs"]["peak_active"] <= 5  # the account's cap, never passed
    assert sandbox.stats()["jobs"]["overlapping"] == 0


async def test_cancelling_the_call_stops_promptly_and_leaves_no_task(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(op_ms=5.0, rate=100)
    submitted = anyio.Event()

    def progress(snapshot: Progress) -> None:
        if snapshot.batches_submitted:
            submitted.set()

    before = set(asyncio.all_tasks())
    finished = anyio.Event()
    async with BulkUpdater(api_key="k", base_url=sandbox.base_url, rate=100) as updater:

        async def run() -> None:
            try:
                await updater.update(numbers(20_000), UPDATE, on_progress=progress)
            finally:
                finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await submitted.wait()
            group.cancel_scope.cancel()
            with anyio.fail_after(2):  # promptly
                await finished.wait()
    left = set(asyncio.all_tasks()) - before - {asyncio.current_task()}
    # The sandbox's own connection handlers end on their own; none of the client's stay.
    assert [task for task in left if _from_client(task)] == []


def _from_client(task: asyncio.Task[Any]) -> bool:
    coro: Any = task.get_coro()
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
        if code is not None and "bulkupdate" in code.co_filename:
            return "sandbox" not in code.co_filename
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return False


async def test_delete_and_emergency_jobs_use_the_same_machinery(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(rate=100)
    every = numbers(150)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=100, batch_size=100
    ) as updater:
        emergency = await updater.update_emergency_settings(
            every[:100], emergency_enabled=True, emergency_address_id="1315261609962112019"
        )
        deleted = await updater.delete_numbers(every[100:])
    assert emergency.totals.succeeded == 100
    assert deleted.totals.succeeded == 50
    enabled = sandbox.number(every[0])
    assert enabled is not None
    assert enabled["emergency_enabled"] is True
    assert enabled["emergency_address_id"] == "1315261609962112019"
    gone = sandbox.number(every[120])
    assert gone is not None
    assert gone["status"] == "deleted"


async def test_filters_leave_out_numbers_that_do_not_match(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(rate=100)
    every = numbers(20)
    async with BulkUpdater(api_key="k", base_url=sandbox.base_url, rate=100) as updater:
        await updater.update(every[:10], {"tags": ["legacy"]})
        result = await updater.update(every, {"customer_reference": "x"}, filters={"tag": "legacy"})
    outcomes = by_status(result)
    assert outcomes[OutcomeStatus.SUCCEEDED] == set(every[:10])
    assert outcomes[OutcomeStatus.SKIPPED] == set(every[10:])
    assert {o.errors[0]["code"] for o in result.with_status("skipped")} == {"filtered_out"}
    assert result.ok  # numbers the filters leave out are not failures
    assert sandbox.number(every[15])["customer_reference"] != "x"  # type: ignore[index]


async def test_ids_are_sent_as_ids(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(rate=100)
    every = numbers(5)
    async with BulkUpdater(api_key="k", base_url=sandbox.base_url, rate=100) as updater:
        await updater.update(every, {"tags": ["seen"]})  # the sandbox learns the numbers
        ids = []
        for number in every:
            record = sandbox.number(number)
            assert record is not None
            ids.append(record["id"])
        result = await updater.update(ids, {"tags": ["by-id"]}, ids=True)
    assert result.totals.succeeded == 5
    assert {o.value for o in result.outcomes} == set(ids)
    landed = sandbox.number(every[0])
    assert landed is not None
    assert landed["tags"] == ["by-id"]


async def test_progress_reports_batches_jobs_and_numbers(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(rate=100)
    seen: list[Progress] = []
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=100, batch_size=100
    ) as updater:
        await updater.update(numbers(500), UPDATE, on_progress=seen.append)
    last = seen[-1]
    assert last.batches_submitted == 5
    assert last.jobs_finished == 5
    assert last.numbers_done == 500
    assert last.input_done
    assert [p.numbers_done for p in seen] == sorted(p.numbers_done for p in seen)


async def test_async_iterables_of_numbers(start_sandbox: StartSandbox) -> None:
    sandbox = await start_sandbox(rate=100)

    async def stream() -> AsyncIterator[str]:
        for number in numbers(30):
            yield number
        yield "not a number"

    async with BulkUpdater(api_key="k", base_url=sandbox.base_url, rate=100) as updater:
        result = await updater.update(stream(), UPDATE)
    assert result.totals.succeeded == 30
    assert result.totals.rejected == 1
