"""The job endpoints over real loopback HTTP, every exchange checked against the spec."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bulkupdate.sandbox import FakeClock, refusals

from .conftest import NUMBERS, MakeApi

FORWARD = {"call_forwarding": {"forwards_to": "+13035559123", "forwarding_type": "always"}}


async def test_an_update_job_from_creation_to_completion(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, pending_ms=100.0, op_ms=10.0)
    created = await api.update({"phone_numbers": NUMBERS[:3], "voice": FORWARD})
    assert created.status == 202
    job = created.data
    assert (job["record_type"], job["type"], job["status"]) == (
        "phone_numbers_job",
        "update_phone_numbers",
        "pending",
    )
    assert job["phone_numbers"] == [{"phone_number": n} for n in NUMBERS[:3]]
    assert len(job["pending_operations"]) == 3

    clock.advance(0.115)
    running = (await api.job(job["id"])).data
    assert running["status"] == "in_progress"
    assert [len(running[k]) for k in ("successful_operations", "pending_operations")] == [1, 2]

    clock.advance(0.1)
    done = await api.job(job["id"])
    assert done.status == 200
    assert done.data["status"] == "completed"
    assert [op["phone_number"] for op in done.data["successful_operations"]] == NUMBERS[:3]
    stored = api.sandbox.number(NUMBERS[2])
    assert stored is not None
    assert stored["voice"]["call_forwarding"]["forwards_to"] == "+13035559123"


async def test_delete_and_emergency_jobs(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, pending_ms=0.0, op_ms=1.0)
    deletion = await api.post(
        "/phone_numbers/jobs/delete_phone_numbers", {"phone_numbers": [NUMBERS[0]]}
    )
    assert (deletion.status, deletion.data["type"]) == (202, "delete_phone_numbers")
    emergency = await api.post(
        "/phone_numbers/jobs/update_emergency_settings",
        {
            "phone_numbers": [NUMBERS[1]],
            "emergency_enabled": True,
            "emergency_address_id": "53829456729313",
        },
    )
    assert (emergency.status, emergency.data["type"]) == (202, "update_emergency_settings")
    disabled = await api.post(
        "/phone_numbers/jobs/update_emergency_settings",
        {"phone_numbers": [NUMBERS[2]], "emergency_enabled": False, "emergency_address_id": None},
    )
    assert disabled.status == 202
    clock.advance(1)
    assert (await api.job(deletion.data["id"])).data["status"] == "completed"
    assert api.sandbox.number(NUMBERS[0])["status"] == "deleted"  # type: ignore[index]
    assert api.sandbox.number(NUMBERS[1])["emergency_address_id"] == "53829456729313"  # type: ignore[index]
    again = await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["x"]})
    assert (again.status, again.error["detail"]) == (422, refusals.NOT_OWNED)


async def test_an_unknown_job_is_a_404(make_api: MakeApi):
    api = await make_api()
    answer = await api.job("42587e44-3a3e-46de-9255-0c9a7a1d1ec7")
    assert answer.status == 404
    assert answer.error == {
        "code": "10005",
        "title": "Resource not found",
        "detail": "The requested resource or URL could not be found.",
        "source": {"pointer": "/base"},
        "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10005"},
    }


@pytest.mark.parametrize(
    ("body", "detail", "pointer"),
    [
        ({"tags": ["a"]}, "must be present", "/phone_numbers"),
        ({"phone_numbers": [], "tags": ["a"]}, refusals.TOO_FEW_NUMBERS, "/phone_numbers"),
        (
            {"phone_numbers": NUMBERS * 11, "tags": ["a"]},
            refusals.TOO_MANY_NUMBERS,
            "/phone_numbers",
        ),
        (
            {"phone_numbers": [NUMBERS[0], "1583466971586889004"], "tags": ["a"]},
            refusals.MIXED_NUMBERS,
            "/phone_numbers",
        ),
        ({"phone_numbers": [NUMBERS[0]]}, refusals.NO_UPDATABLE_FIELD, "/updateable_fields"),
        ({"phone_numbers": ["+15555550100"], "tags": ["a"]}, refusals.NOT_OWNED, "/phone_numbers"),
        (
            {"phone_numbers": [NUMBERS[0]], "voice": {"call_forwarding": {"forwarding_type": "x"}}},
            "The field must be one of: always, on-failure.",
            "/voice/call_forwarding/forwarding_type",
        ),
    ],
)
async def test_update_refusals_over_http(
    make_api: MakeApi, body: object, detail: str, pointer: str
):
    api = await make_api()
    answer = await api.update(body)
    assert answer.status == 422
    error = answer.error
    assert (error["code"], error["title"], error["detail"]) == ("10015", "Bad Request", detail)
    assert error["source"] == {"pointer": pointer}
    assert api.sandbox.jobs() == []


async def test_bodies_must_be_json(make_api: MakeApi):
    api = await make_api()
    path = "/phone_numbers/jobs/update_phone_numbers"
    plain = await api.call(
        "POST", path, data=b'{"phone_numbers": []}', headers={"Content-Type": "text/plain"}
    )
    broken = await api.call("POST", path, data=b"{", headers={"Content-Type": "application/json"})
    for answer in (plain, broken):
        assert (answer.status, answer.error["code"]) == (400, "10015")


async def test_query_refusals_name_the_parameter(make_api: MakeApi):
    api = await make_api()
    body = {"phone_numbers": [], "tags": ["a"]}
    for params, parameter in (
        ({"filter[colour]": "red"}, "filter[colour]"),
        ({"filter[phone_number]": "12"}, "filter[phone_number]"),
        (
            {"filter[voice.connection_name][contains]": "ab"},
            "filter[voice.connection_name][contains]",
        ),
        ({"filter[status]": "live"}, "filter[status]"),
    ):
        answer = await api.update(body, params=params)
        assert (answer.status, answer.error["code"]) == (422, "10015")
        assert answer.error["source"] == {"parameter": parameter}
    unknown = await api.post(
        "/phone_numbers/jobs/delete_phone_numbers",
        {"phone_numbers": [NUMBERS[0]]},
        params={"dry_run": "1"},
    )
    assert unknown.error["source"] == {"parameter": "dry_run"}


async def test_update_with_filters(make_api: MakeApi, clock: FakeClock):
    api = await make_api(
        clock=clock, pending_ms=0.0, op_ms=0.0, own_all=False, inventory=tuple(NUMBERS[:5])
    )
    tagged = await api.update({"phone_numbers": NUMBERS[:2], "tags": ["vip"]})
    assert tagged.status == 202
    by_filter = await api.update(
        {"phone_numbers": [], "external_pin": "4321"}, params={"filter[tag]": "vip"}
    )
    assert by_filter.status == 202
    assert [op["phone_number"] for op in by_filter.data["successful_operations"]] == NUMBERS[:2]
    assert api.sandbox.number(NUMBERS[2])["external_pin"] is None  # type: ignore[index]
    nested = await api.update(
        {"phone_numbers": [], "tags": ["a"]},
        params={"filter[voice.connection_name][eq]": "none", "filter[billing_group_id]": "null"},
    )
    assert (nested.status, nested.data["phone_numbers"]) == (202, [])


async def test_the_job_cap_seen_from_outside(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, job_cap=3, pending_ms=100.0, op_ms=10.0)
    for number in NUMBERS[:3]:
        assert (await api.update({"phone_numbers": [number], "tags": ["a"]})).status == 202
    refused = await api.update({"phone_numbers": [NUMBERS[3]], "tags": ["a"]})
    assert refused.status == 422
    assert refused.error["detail"] == "You can have at most 3 pending or in progress jobs"
    assert refused.error["source"] == {"pointer": "/base"}
    clock.advance(0.11)  # all three have finished
    assert (await api.update({"phone_numbers": [NUMBERS[3]], "tags": ["a"]})).status == 202
    jobs = api.sandbox.stats()["jobs"]
    assert (jobs["peak_active"], jobs["refused_at_cap"]) == (3, 1)


async def test_jobs_list_pages_and_filters(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, pending_ms=0.0, op_ms=0.0)
    ids = []
    for number in NUMBERS[:5]:
        ids.append((await api.update({"phone_numbers": [number], "tags": ["a"]})).data["id"])
        clock.advance(1)
    await api.post("/phone_numbers/jobs/delete_phone_numbers", {"phone_numbers": [NUMBERS[9]]})
    first = await api.get(
        "/phone_numbers/jobs",
        params={"page[size]": "2", "filter[type]": "update_phone_numbers", "sort": "created_at"},
    )
    assert first.status == 200
    assert [job["id"] for job in first.data] == ids[:-3:-1]
    assert first.body["meta"] == {
        "page_number": 1,
        "page_size": 2,
        "total_pages": 3,
        "total_results": 5,
    }
    everything = await api.get("/phone_numbers/jobs")
    assert everything.body["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_pages": 1,
        "total_results": 6,
    }
    assert everything.data[0]["type"] == "delete_phone_numbers"
    beyond = await api.get("/phone_numbers/jobs", params={"page[number]": "9"})
    assert (beyond.status, beyond.data) == (200, [])
    too_big = await api.get("/phone_numbers/jobs", params={"page[size]": "251"})
    assert (too_big.status, too_big.error["source"]) == (422, {"pointer": "page/size"})
    zero = await api.get("/phone_numbers/jobs", params={"page[number]": "0"})
    assert (zero.status, zero.error["title"]) == (422, "Invalid pagination")
    bad_type = await api.get("/phone_numbers/jobs", params={"filter[type]": "update"})
    assert (bad_type.status, bad_type.error["source"]) == (422, {"parameter": "filter[type]"})
    bad_sort = await api.get("/phone_numbers/jobs", params={"sort": "-created_at"})
    assert (bad_sort.status, bad_sort.error["source"]) == (422, {"pointer": "/sort"})


async def test_expiry_seen_from_outside(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, stall_rate=1.0, job_ttl=30.0, op_ms=10.0)
    job = (await api.update({"phone_numbers": NUMBERS[:20], "tags": ["a"]})).data
    clock.advance(29.9)
    assert (await api.job(job["id"])).data["status"] == "in_progress"
    clock.advance(0.1)
    expired = (await api.job(job["id"])).data
    assert expired["status"] == "expired"
    assert expired["pending_operations"]
    assert api.sandbox.stats()["jobs"]["expired"] == 1


async def test_same_seed_same_failures_whatever_the_interleaving(
    make_api: MakeApi, clock: FakeClock
):
    async def failed(order: list[list[str]]) -> set[str]:
        api = await make_api(
            clock=clock, fail_rate=0.25, seed=99, pending_ms=0.0, op_ms=0.0, rate=1000.0
        )
        answers = await asyncio.gather(
            *(api.update({"phone_numbers": b, "tags": ["t"]}) for b in order)
        )
        assert {a.status for a in answers} == {202}
        return {op["phone_number"] for job in api.sandbox.jobs() for op in job["failed_operations"]}

    batches = [NUMBERS[i : i + 10] for i in range(0, 60, 10)]
    one = await failed(batches)
    other = await failed([b[::-1] for b in reversed(batches)])
    assert one == other
    assert one  # some failed


async def test_drop_after_create_hangs_up_but_the_job_exists(make_api: MakeApi):
    api = await make_api(drop_after_create_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})
    assert len(api.sandbox.jobs()) == 1
    # The duplicate-job trap: a blind re-send makes a second, overlapping job.
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})
    stats = api.sandbox.stats()
    assert stats["jobs"]["overlapping"] == 1
    assert stats["faults"]["dropped_after_create"] == 2
    assert "dropped" not in stats["requests"]["by_status"]
    assert stats["requests"]["total"] == 2


async def test_error_after_create_answers_500_but_the_job_exists(make_api: MakeApi):
    api = await make_api(error_after_create_rate=1.0)
    answer = await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})
    assert (answer.status, answer.error["code"], answer.error["detail"]) == (
        500,
        "10007",
        "An unexpected error occured.",
    )
    assert len(api.sandbox.jobs()) == 1
    listed = await api.get("/phone_numbers/jobs")
    assert listed.data[0]["phone_numbers"] == [{"phone_number": NUMBERS[0]}]


async def test_error_rate_answers_500_without_doing_anything(make_api: MakeApi):
    api = await make_api(error_rate=1.0)
    answer = await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})
    assert (answer.status, answer.error["code"]) == (500, "10007")
    assert api.sandbox.jobs() == []
    assert api.sandbox.stats()["faults"]["errors"] == 1


async def test_request_faults_follow_the_seed(make_api: MakeApi):
    async def statuses(seed: int) -> list[int]:
        api = await make_api(error_rate=0.5, seed=seed, rate=1000.0)
        return [(await api.get("/phone_numbers/jobs")).status for _ in range(30)]

    first = await statuses(5)
    assert first == await statuses(5)
    assert set(first) == {200, 500}
    assert first != await statuses(6)


async def test_slow_answers_wait_on_the_clock(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, slow_rate=1.0, slow_ms=2500.0)
    before = clock.now()
    assert (await api.get("/phone_numbers/jobs")).status == 200
    assert clock.now() - before == pytest.approx(2.5)
    assert api.sandbox.stats()["faults"]["slow"] == 1
