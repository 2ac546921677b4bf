"""The account's numbers through the library: ``AccountNumbers`` with ``BulkUpdater``'s
update, delete and emergency-settings calls, and a number somebody else changes after it
was listed, reported skipped. Every exchange is held to the OpenAPI contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from bulkupdate import AccountNumbers, BulkUpdater, OutcomeStatus, SpecError, UsageError
from bulkupdate.api.client import ApiClient
from bulkupdate.engine.job_states import FILTERED_OUT
from bulkupdate.engine.outcomes import OutcomeCollector
from bulkupdate.engine.pipeline import run_engine
from bulkupdate.input.scan import Chunk
from bulkupdate.request.spec import UpdateSpec
from bulkupdate.runs.account_input import AccountSource
from bulkupdate.updater import guarded
from tests.conftest import StartSandbox

if TYPE_CHECKING:
    from bulkupdate.sandbox import Sandbox

A, B = "1293384261075731100", "1293384261075731200"
NUMBERS = [f"+1312{2_000_000 + n:07d}" for n in range(900)]
ON_A = NUMBERS[::3]  # 300, spread over the listing's order


async def account(start_sandbox: StartSandbox, **settings: object) -> Sandbox:
    presets: dict[str, dict[str, object]] = {n: {"connection_id": A} for n in ON_A}
    presets.update({n: {"tags": ["gone"]} for n in NUMBERS[1:60:3]})
    return await start_sandbox(
        own_all=False, inventory=tuple(NUMBERS), number_settings=presets, rate=200, **settings
    )


async def test_update_delete_and_emergency_settings_take_the_accounts_numbers(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await account(start_sandbox, fail_rate=0.05, seed=2)
    async with BulkUpdater(api_key="k", base_url=sandbox.base_url, rate=200) as updater:
        moved = await updater.update(
            AccountNumbers({"connection_id": A}), {"connection_id": B, "tags": ["lib"]}
        )
        assert {o.value for o in moved.with_status("succeeded")} == set(ON_A)
        assert moved.totals.retried > 0  # transient failures happened, and were retried
        again = await updater.update(AccountNumbers({"connection_id": A}), {"tags": ["x"]})
        assert again.outcomes == ()  # nothing matches any more

        enabled = await updater.update_emergency_settings(
            AccountNumbers({"connection_id": B}), emergency_enabled=True, emergency_address_id="77"
        )
        assert enabled.totals.succeeded == len(ON_A)
        deleted = await updater.delete_numbers(AccountNumbers({"tag": "gone"}))
        assert {o.value for o in deleted.outcomes} == set(NUMBERS[1:60:3])

    first = sandbox.number(ON_A[0])
    assert first is not None
    assert (first["connection_id"], first["tags"], first["emergency_address_id"]) == (
        B,
        ["lib"],
        "77",
    )
    gone = sandbox.number(NUMBERS[1])
    assert gone is not None
    assert gone["status"] == "deleted"
    untouched = sandbox.number(NUMBERS[2])
    assert untouched is not None
    assert untouched["updated_at"] == untouched["created_at"]
    assert sandbox.stats()["numbers"]["reapplied_after_success"] == 0


async def test_a_number_somebody_else_moves_after_its_listing_is_skipped_not_failed(
    start_sandbox: StartSandbox,
) -> None:
    sandbox = await account(start_sandbox)
    selection = AccountNumbers({"connection_id": A})
    async with (
        ApiClient("k", base_url=sandbox.base_url, rate=200) as client,
        BulkUpdater(api_key="other", base_url=sandbox.base_url, rate=200) as somebody,
    ):
        source = AccountSource(client, selection)
        moved_away: list[str] = []

        async def listed_then_moved() -> AsyncIterator[Chunk]:
            async for chunk in source.chunks():
                if not moved_away:  # somebody else, between the listing and the job
                    moved_away.append(chunk.values[0])
                    await somebody.update([chunk.values[0]], {"connection_id": "999"})
                yield chunk

        collector = OutcomeCollector()
        request = guarded(UpdateSpec({"connection_id": B}), selection)
        await run_engine(client, request, listed_then_moved(), collector)
    skipped = [o for o in collector.outcomes if o.status is OutcomeStatus.SKIPPED]
    assert [o.value for o in skipped] == moved_away
    assert skipped[0].errors == (FILTERED_OUT,)
    assert {o.value for o in collector.outcomes if o.status is OutcomeStatus.SUCCEEDED} == (
        set(ON_A) - set(moved_away)
    )
    elsewhere = sandbox.number(moved_away[0])
    assert elsewhere is not None
    assert elsewhere["connection_id"] == "999"  # left alone by our job


def test_a_selection_is_checked_when_it_is_made() -> None:
    with pytest.raises(SpecError, match="at least one --filter"):
        AccountNumbers({})
    with pytest.raises(SpecError, match="has_bundle does not belong here"):
        AccountNumbers({"has_bundle": "true"})
    selection = AccountNumbers(
        {"voice.connection_name": "trunk", "number_type": "local", "without_tags": "true"}
    )
    assert selection.listing_params() == [
        ("filter[voice.connection_name][eq]", "trunk"),
        ("filter[number_type][eq]", "local"),
        ("filter[without_tags]", "true"),
    ]
    assert selection.update_filters() == (("voice.connection_name.eq", "trunk"),)
    with pytest.raises(UsageError, match="the selection's own filters"):
        guarded(UpdateSpec({"tags": ["x"]}, filters=(("tag", "y"),)), selection)


async def test_filters_beside_account_numbers_are_refused(start_sandbox: StartSandbox) -> None:
    sandbox = await account(start_sandbox)
    async with BulkUpdater(api_key="k", base_url=sandbox.base_url) as updater:
        with pytest.raises(UsageError, match="chosen by AccountNumbers"):
            await updater.update(
                AccountNumbers({"tag": "gone"}), {"tags": []}, filters={"tag": "x"}
            )
    assert sandbox.stats()["requests"]["total"] == 0
