"""Telnyx's own Python SDK, with its default settings, works against the sandbox unchanged."""

from __future__ import annotations

import pytest

from bulkupdate.sandbox import FakeClock

from .conftest import KEY, NUMBERS, StartSandbox

telnyx = pytest.importorskip("telnyx")


async def test_the_sdk_creates_retrieves_and_lists_jobs(
    start_sandbox: StartSandbox, clock: FakeClock
):
    sandbox = await start_sandbox(clock=clock, pending_ms=100.0, op_ms=10.0)
    async with telnyx.AsyncTelnyx(api_key=KEY, base_url=sandbox.base_url) as client:
        created = await client.phone_numbers.jobs.update_batch(
            phone_numbers=NUMBERS[:3],
            tags=["sdk"],
            voice={
                "call_forwarding": {
                    "call_forwarding_enabled": True,
                    "forwards_to": "+13035559123",
                    "forwarding_type": "on-failure",
                },
                "cnam_listing": {"cnam_listing_enabled": True, "cnam_listing_details": "ACME"},
            },
        )
        job = created.data
        assert job is not None
        assert (job.status, job.type, job.record_type) == (
            "pending",
            "update_phone_numbers",
            "phone_numbers_job",
        )
        assert [p.phone_number for p in job.phone_numbers or []] == NUMBERS[:3]

        clock.advance(1)
        fetched = await client.phone_numbers.jobs.retrieve(job.id)
        assert fetched.data is not None
        assert fetched.data.status == "completed"
        assert [op.phone_number for op in fetched.data.successful_operations or []] == NUMBERS[:3]
        assert fetched.data.etc is not None

        for number in NUMBERS[3:8]:
            await client.phone_numbers.jobs.update_batch(
                phone_numbers=[number], hd_voice_enabled=True
            )
        page = await client.phone_numbers.jobs.list(
            page_size=2, filter={"type": "update_phone_numbers"}
        )
        assert len(page.data) == 2
        assert page.meta is not None
        assert page.meta.total_pages == 3
        seen = [j.id async for j in client.phone_numbers.jobs.list(page_size=2)]
        assert len(seen) == 6
        assert seen[-1] == job.id

    stored = sandbox.number(NUMBERS[0])
    assert stored is not None
    assert stored["voice"]["call_forwarding"]["forwarding_type"] == "on-failure"
    assert stored["voice"]["cnam_listing"] == {
        "cnam_listing_enabled": True,
        "cnam_listing_details": "ACME",
    }


async def test_the_sdk_sends_filters_the_sandbox_understands(
    start_sandbox: StartSandbox, clock: FakeClock
):
    sandbox = await start_sandbox(clock=clock, pending_ms=0.0, op_ms=0.0)
    async with telnyx.AsyncTelnyx(api_key=KEY, base_url=sandbox.base_url) as client:
        await client.phone_numbers.jobs.update_batch(phone_numbers=NUMBERS[:2], tags=["vip"])
        by_filter = await client.phone_numbers.jobs.update_batch(
            phone_numbers=[],
            filter={"tag": "vip", "voice_connection_name": {"contains": "nothing"}},
            external_pin="1234",
        )
        assert by_filter.data is not None
        assert by_filter.data.status == "completed"
        assert by_filter.data.successful_operations == []
        plain = await client.phone_numbers.jobs.update_batch(
            phone_numbers=[], filter={"tag": "vip"}, external_pin="1234"
        )
        assert plain.data is not None
        assert len(plain.data.successful_operations or []) == 2


async def test_the_sdk_raises_its_own_errors_on_refusals(start_sandbox: StartSandbox):
    sandbox = await start_sandbox(unowned_numbers=frozenset({NUMBERS[0]}))
    async with telnyx.AsyncTelnyx(api_key=KEY, base_url=sandbox.base_url) as client:
        with pytest.raises(telnyx.UnprocessableEntityError) as refused:
            await client.phone_numbers.jobs.update_batch(phone_numbers=[NUMBERS[0]], tags=["a"])
        assert "You must own every number in the bulk request" in str(refused.value)
        with pytest.raises(telnyx.NotFoundError):
            await client.phone_numbers.jobs.retrieve("42587e44-3a3e-46de-9255-0c9a7a1d1ec7")
