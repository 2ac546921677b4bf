"""The engine against the API's limits, end to end over loopback: every rate model the
sandbox keeps, with and without rate headers, a limit that drops and headers that vanish
mid-run, job slots another client takes and gives back, a number listing the key may not
read, and job estimates that are too hopeful. Every exchange is held to the OpenAPI
contract."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import pytest

from bulkupdate import BulkUpdater, OutcomeStatus, Progress
from bulkupdate.sandbox import Sandbox
from tests.conftest import StartSandbox
from tests.contract import SpecChecker

UPDATE = {"tags": ["migrated"]}
MODELS = ["fixed", "sliding", "token-bucket"]


def numbers(count: int, start: int = 2_000_000) -> list[str]:
    """Valid, distinct Chicago numbers."""
    return [f"+1312{start + n:07d}" for n in range(count)]


def requests_and_429s(sandbox: Sandbox) -> tuple[int, int]:
    stats = sandbox.stats()
    return stats["requests"]["total"], stats["requests"]["by_status"]["429"]


@pytest.mark.parametrize(
    ("model", "rate_headers"),
    [*((model, True) for model in MODELS), ("sliding", False)],
    ids=[*MODELS, "sliding-no-headers"],
)
async def test_every_rate_model_is_paced_at_its_limit(
    start_sandbox: StartSandbox, model: str, rate_headers: bool
) -> None:
    sandbox = await start_sandbox(
        rate=40, rate_model=model, rate_headers=rate_headers, fail_rate=0.05, seed=2
    )
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=40, batch_size=40
    ) as updater:
        result = await updater.update(numbers(2_000), UPDATE)
    assert result.totals.succeeded == 2_000
    stats = sandbox.stats()
    requests, throttled = requests_and_429s(sandbox)
    assert throttled <= max(1, requests // 100)  # no 429 storm
    assert stats["rate"]["peak_in_any_second"] <= 40 + 1  # the limit plus the pace's burst
    assert stats["numbers"]["reapplied_after_success"] == 0
    assert stats["jobs"]["overlapping"] == 0


@pytest.mark.parametrize("model", MODELS)
async def test_a_client_three_times_faster_than_the_server_is_brought_down_to_it(
    start_sandbox: StartSandbox, model: str
) -> None:
    sandbox = await start_sandbox(rate=10, rate_model=model)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=30, batch_size=100
    ) as updater:
        result = await updater.update(numbers(1_500), UPDATE)
    assert result.totals.succeeded == 1_500
    # The headers slow it down before 429s do: a few at most while it learns the limit.
    assert requests_and_429s(sandbox)[1] <= 3
    assert result.stats.final_rate <= 10.5


@pytest.mark.parametrize("model", MODELS)
async def test_a_limit_that_drops_mid_run_is_kept_to(
    start_sandbox: StartSandbox, model: str
) -> None:
    sandbox = await start_sandbox(rate=40, rate_model=model)
    dropped = anyio.Event()

    def progress(snapshot: Progress) -> None:
        if snapshot.batches_submitted >= 10 and not dropped.is_set():
            sandbox.set_limits(rate=20)  # the busiest-second count starts again too
            dropped.set()

    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=40, batch_size=40
    ) as updater:
        result = await updater.update(numbers(2_000), UPDATE, on_progress=progress)
    assert dropped.is_set()
    assert result.totals.succeeded == 2_000
    stats = sandbox.stats()
    assert stats["rate"]["peak_in_any_second"] <= 40  # and soon within the new limit
    assert requests_and_429s(sandbox)[1] <= 5
    assert result.stats.final_rate <= 20.5


@pytest.mark.parametrize("model", MODELS)
async def test_headers_that_vanish_mid_run_leave_the_pace_learned(
    start_sandbox: StartSandbox, model: str
) -> None:
    sandbox = await start_sandbox(rate=25, rate_model=model)

    def progress(snapshot: Progress) -> None:
        if snapshot.batches_submitted == 10:
            sandbox.set_limits(headers=False)

    # Configured above the limit: only the headers ever said where the limit is.
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=50, batch_size=40
    ) as updater:
        result = await updater.update(numbers(1_600), UPDATE, on_progress=progress)
    assert result.totals.succeeded == 1_600
    stats = sandbox.stats()
    assert stats["rate"]["headers"] is False
    assert requests_and_429s(sandbox)[1] <= 3
    assert stats["rate"]["peak_in_any_second"] <= 25 + 1


async def test_job_slots_another_client_gives_back_are_taken_back(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await start_sandbox(job_cap=8, op_ms=1.0, rate=500, checked=False)
    # Another client holds 5 of the 8 slots for about a second (delete jobs: they count
    # against the same cap, and stay out of the run's lists of update jobs).
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer other"}) as session:
        for n in range(5):
            body = {"phone_numbers": numbers(1000, start=5_000_000 + 1000 * n)}
            url = sandbox.base_url + "/phone_numbers/jobs/delete_phone_numbers"
            async with session.post(url, json=body) as answer:
                assert answer.status == 202
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=100, max_active_jobs=8
    ) as updater:
        result = await updater.update(numbers(10_000), UPDATE)
    assert result.totals.succeeded == 10_000
    assert result.stats.cap_refusals >= 1  # the run met the others' jobs
    assert result.stats.final_job_cap == 8  # and took their slots back once they ended
    jobs = sandbox.jobs()
    others_end = max(job["updated_at"] for job in jobs if job["type"] == "delete_phone_numbers")
    ours = [job for job in jobs if job["type"] == "update_phone_numbers"]
    assert peak_at_once(ours, after=others_end) == 8
    stats = sandbox.stats()
    assert stats["jobs"]["peak_active"] <= 8
    assert stats["jobs"]["overlapping"] == 0


def peak_at_once(jobs: list[dict[str, Any]], *, after: str) -> int:
    """The most of ``jobs`` pending or in progress at one moment later than ``after``
    (ISO 8601 times of one format compare as strings)."""
    changes = sorted(
        [(job["created_at"], 1) for job in jobs] + [(job["updated_at"], -1) for job in jobs]
    )
    active = peak = 0
    for moment, change in changes:
        active += change
        if moment > after:
            peak = max(peak, active)
    return peak


@pytest.mark.parametrize("status", [403, 404, 500])
async def test_a_listing_that_cannot_be_read_leaves_bisection_to_finish_the_run(
    start_sandbox: StartSandbox, spec_checker: SpecChecker, status: int
) -> None:
    spec_checker.undocumented.add(status)  # the spec lists no 403 or 500 for the listing
    owned = numbers(400)
    strangers = numbers(4, start=9_000_000)
    every = owned[:]
    for position, stranger in zip((5, 150, 151, 320), strangers, strict=True):
        every.insert(position, stranger)
    sandbox = await start_sandbox(own_all=False, inventory=owned, rate=500, listing_status=status)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=50, ownership="inventory"
    ) as updater:
        result = await updater.update(every, UPDATE)  # no AuthError: the jobs work
    outcomes = {o.value: o.status for o in result.outcomes}
    assert {v for v, s in outcomes.items() if s is OutcomeStatus.FAILED} == set(strangers)
    assert {v for v, s in outcomes.items() if s is OutcomeStatus.SUCCEEDED} == set(owned)
    assert result.stats.ownership.bisect_requests > 0
    assert sandbox.stats()["requests"]["by_endpoint"]["GET /phone_numbers"] >= 1


async def test_estimates_that_are_too_hopeful_stop_being_lent_against(
    start_sandbox: StartSandbox,
) -> None:
    # Every job takes twice as long as its etc says: a slot lent at the estimate is still
    # held, and the API's cap refuses the job it was lent to.
    sandbox = await start_sandbox(job_cap=4, op_ms=1.0, etc_error=1.0, rate=500)
    async with BulkUpdater(
        api_key="k", base_url=sandbox.base_url, rate=500, batch_size=100, max_active_jobs=4
    ) as updater:
        result = await updater.update(numbers(3_000), UPDATE)
    assert result.totals.succeeded == 3_000
    stats = sandbox.stats()
    assert stats["jobs"]["peak_active"] <= 4
    assert stats["jobs"]["overlapping"] == 0
    assert stats["numbers"]["reapplied_after_success"] == 0
    # Wrong estimates cost a refusal or two (a submission already on its way counts with
    # the estimate it was lent on); then the run lends no more and waits for jobs to be
    # seen ending.
    assert result.stats.cap_refusals <= 4
