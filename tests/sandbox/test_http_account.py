"""Auth, rate limits, the number endpoints, stats and reset, over real loopback HTTP."""

from __future__ import annotations

import io

import aiohttp
import pytest

from bulkupdate.sandbox import FakeClock, Sandbox, SandboxConfig, refusals
from tests.contract import SpecChecker

from .conftest import NUMBERS, Api, MakeApi

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"],
)
async def test_requests_without_a_bearer_key_are_401(make_api: MakeApi, authorization: str | None):
    api = await make_api()
    api.key = ""
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = await api.get("/phone_numbers/jobs", headers=headers)
    assert answer.status == 401
    assert answer.error == {
        "code": "10009",
        "title": "Authentication failed",
        "detail": refusals.BAD_CREDENTIALS,
        "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10009"},
    }
    assert all(name in {h.lower() for h in answer.headers} for name in RATE_HEADERS)


async def test_a_configured_api_key_is_the_only_one_accepted(make_api: MakeApi):
    api = await make_api(api_key="KEY0123")
    assert (await api.get("/phone_numbers/jobs")).status == 401
    api.key = "KEY0123"
    assert (await api.get("/phone_numbers/jobs")).status == 200


async def test_the_rate_limit_seen_from_outside(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, rate=5.0)
    answers = [await api.get("/phone_numbers/jobs") for _ in range(5)]
    answers.append(await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]}))
    answers.append(await api.get(f"/phone_numbers/{'1' * 18}"))
    assert [a.status for a in answers] == [200] * 5 + [429, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == [
        "4",
        "3",
        "2",
        "1",
        "0",
        "0",
        "0",
    ]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"5"}
    assert {a.headers["X-RateLimit-Reset"] for a in answers} == {"1"}
    limited = answers[5]
    assert limited.error == {
        "code": "10011",
        "title": "Too many requests",
        "detail": "You have exceeded the maximum number of allowed requests.",
        "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10011"},
    }
    assert "Retry-After" not in limited.headers
    assert api.sandbox.jobs() == []  # a limited POST does nothing

    clock.advance(0.6)
    assert (await api.get("/phone_numbers/jobs")).headers["X-RateLimit-Reset"] == "1"
    clock.advance(0.4)  # the window that opened with the first request has closed
    again = await api.get("/phone_numbers/jobs")
    assert (again.status, again.headers["X-RateLimit-Remaining"]) == (200, "4")

    stats = api.sandbox.stats()
    assert stats["rate"]["limit_per_second"] == 5.0
    assert stats["rate"]["peak_in_any_second"] == 8  # refused requests count too
    assert stats["requests"]["by_status"]["429"] == 3


async def test_keys_are_limited_separately(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, rate=1.0)
    assert (await api.get("/phone_numbers/jobs")).status == 200
    assert (await api.get("/phone_numbers/jobs")).status == 429
    api.key = "another-key"
    assert (await api.get("/phone_numbers/jobs")).status == 200


async def test_retry_after_is_a_switch(make_api: MakeApi, clock: FakeClock):
    api = await make_api(clock=clock, rate=2.0, rate_window=3.0, retry_after=True)
    clock.advance(3 - clock.now() % 3)  # the start of a window on the server's clock
    answers = [await api.get("/phone_numbers/jobs") for _ in range(7)]
    assert answers[6].status == 429
    assert answers[6].headers["Retry-After"] == "3"
    assert "Retry-After" not in answers[0].headers
    clock.advance(1.5)
    later = await api.get("/phone_numbers/jobs")
    assert (later.headers["Retry-After"], later.headers["X-RateLimit-Reset"]) == ("2", "2")


async def test_every_v2_answer_carries_rate_headers(make_api: MakeApi):
    api = await make_api()
    answers = [
        await api.get("/phone_numbers/jobs"),
        await api.get("/phone_numbers/jobs/unknown"),
        await api.get("/phone_numbers/jobs", params={"page[size]": "0"}),
        await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]}),
        await api.get("/no/such/route"),
        await api.call("DELETE", "/phone_numbers/jobs"),
        await api.call(  # over aiohttp's 1 MiB body limit
            "POST",
            "/phone_numbers/jobs/update_phone_numbers",
            data=io.BytesIO(b'{"tags": ["' + b"x" * 2**21 + b'"]}'),
            headers={"Content-Type": "application/json"},
        ),
    ]
    assert [a.status for a in answers] == [200, 404, 422, 202, 404, 405, 413]
    for answer in answers:
        assert all(name in {h.lower() for h in answer.headers} for name in RATE_HEADERS)
        assert answer.body["errors" if answer.status >= 400 else "data"] is not None


async def test_the_inventory_endpoints(make_api: MakeApi, clock: FakeClock):
    api = await make_api(
        clock=clock, own_all=False, inventory=tuple(NUMBERS[:30]), pending_ms=0.0, op_ms=0.0
    )
    listed = await api.get("/phone_numbers", params={"page[size]": "250"})
    assert listed.status == 200
    assert listed.body["meta"] == {
        "page_number": 1,
        "page_size": 250,
        "total_pages": 1,
        "total_results": 30,
    }
    assert {n["phone_number"] for n in listed.data} == set(NUMBERS[:30])
    number = listed.data[0]
    assert number["id"].isdigit()
    assert 16 <= len(number["id"]) <= 19
    assert (number["record_type"], number["status"], number["country_iso_alpha2"]) == (
        "phone_number",
        "active",
        "US",
    )

    await api.update(
        {
            "phone_numbers": NUMBERS[:3],
            "tags": ["vip"],
            "connection_id": "77",
            "voice": {"usage_payment_method": "channel"},
        }
    )
    await api.post("/phone_numbers/jobs/delete_phone_numbers", {"phone_numbers": [NUMBERS[29]]})
    by_tag = await api.get("/phone_numbers", params={"filter[tag]": "vip", "sort": "phone_number"})
    assert [n["phone_number"] for n in by_tag.data] == NUMBERS[:3]
    assert by_tag.data[0]["connection_id"] == "77"
    by_digits = await api.get("/phone_numbers", params={"filter[phone_number]": "5550102"})
    assert [n["phone_number"] for n in by_digits.data] == [NUMBERS[2]]
    by_name = await api.get(
        "/phone_numbers", params={"filter[voice.connection_name][ends_with]": "n-77"}
    )
    assert len(by_name.data) == 3
    by_method = await api.get(
        "/phone_numbers", params={"filter[voice.usage_payment_method]": "channel"}
    )
    assert len(by_method.data) == 3
    assert (await api.get("/phone_numbers")).body["meta"]["total_results"] == 29
    deleted = await api.get("/phone_numbers", params={"filter[status]": "deleted"})
    assert [n["phone_number"] for n in deleted.data] == [NUMBERS[29]]
    paged = await api.get("/phone_numbers", params={"page[size]": "7", "page[number]": "5"})
    assert (len(paged.data), paged.body["meta"]["total_pages"]) == (1, 5)

    one = await api.get(f"/phone_numbers/{number['id']}")
    assert one.status == 200
    assert one.data["id"] == number["id"]
    first = api.sandbox.number(NUMBERS[0])
    assert first is not None
    voice = await api.get(f"/phone_numbers/{first['id']}/voice")
    assert voice.status == 200
    assert voice.data["record_type"] == "voice_settings"
    assert voice.data["usage_payment_method"] == "channel"
    assert voice.data["connection_id"] == "77"
    assert voice.data["emergency"] == {"emergency_enabled": False, "emergency_status": "disabled"}
    for path in (
        "/phone_numbers/1234567890123456",
        "/phone_numbers/1234567890123456/voice",
        f"/phone_numbers/{NUMBERS[0]}",
    ):
        missing = await api.get(path)
        assert (missing.status, missing.error["code"]) == (404, "10005")
    refused = await api.get("/phone_numbers", params={"filter[phone_number]": "55"})
    assert (refused.status, refused.error["source"]) == (422, {"parameter": "filter[phone_number]"})
    too_big = await api.get("/phone_numbers", params={"page[size]": "500"})
    assert (too_big.status, too_big.error["source"]) == (422, {"pointer": "page/size"})


async def test_own_all_gives_numbers_stable_ids_on_first_sight(make_api: MakeApi):
    api = await make_api(unowned_numbers=frozenset({NUMBERS[1]}))
    assert (await api.get("/phone_numbers")).data == []
    assert (await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})).status == 202
    first = api.sandbox.number(NUMBERS[0])
    assert first is not None
    refused = await api.update({"phone_numbers": [NUMBERS[1]], "tags": ["a"]})
    assert (refused.status, refused.error["detail"]) == (422, refusals.NOT_OWNED)
    unknown_id = await api.update({"phone_numbers": ["1234567890123456"], "tags": ["a"]})
    assert unknown_id.status == 422
    api.sandbox.reset()
    assert (await api.update({"phone_numbers": [first["id"]], "tags": ["a"]})).status == 422
    assert (await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})).status == 202
    assert api.sandbox.number(NUMBERS[0])["id"] == first["id"]  # type: ignore[index]


async def test_stats_keys_and_reset(
    make_api: MakeApi, session: aiohttp.ClientSession, clock: FakeClock
):
    api = await make_api(clock=clock, pending_ms=100.0)
    await api.update({"phone_numbers": NUMBERS[:2], "tags": ["a"]})
    await api.update({"phone_numbers": NUMBERS[1:3], "tags": ["b"]})  # overlaps the first
    await api.get("/phone_numbers/jobs")
    clock.advance(1)
    await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["c"]})
    clock.advance(1)
    async with session.get(api.sandbox.url + "/_sandbox/stats") as response:
        assert response.status == 200
        stats = await response.json()
    assert stats == api.sandbox.stats()
    assert stats["requests"]["total"] == 4
    by_status = stats["requests"]["by_status"]
    assert {k: v for k, v in by_status.items() if v} == {"200": 1, "202": 3}
    assert by_status["429"] == by_status["500"] == 0  # always there, for scripts
    by_endpoint = stats["requests"]["by_endpoint"]
    assert {k: v for k, v in by_endpoint.items() if v} == {
        "GET /phone_numbers/jobs": 1,
        "POST /phone_numbers/jobs/update_phone_numbers": 3,
    }
    assert by_endpoint["GET /phone_numbers/{id}/voice"] == 0
    assert {k: stats["jobs"][k] for k in ("created", "peak_active", "expired", "overlapping")} == {
        "created": 3,
        "peak_active": 2,
        "expired": 0,
        "overlapping": 1,
    }
    assert stats["rate"] == stats["rate"] | {"limit_per_second": 20.0, "peak_in_any_second": 3}
    assert stats["numbers"] == stats["numbers"] | {"applied": 5, "reapplied_after_success": 2}

    async with session.post(api.sandbox.url + "/_sandbox/reset") as response:
        assert response.status == 200
    cleared = api.sandbox.stats()
    assert (
        cleared["requests"]["total"],
        cleared["jobs"]["created"],
        cleared["numbers"]["applied"],
    ) == (0, 0, 0)
    assert cleared["rate"]["peak_in_any_second"] == 0
    assert api.sandbox.jobs() == []
    assert api.sandbox.number(NUMBERS[0]) is None  # own-all numbers are forgotten too


async def test_sandbox_lifecycle_and_repr():
    sandbox = Sandbox(SandboxConfig(), port=0)
    with pytest.raises(RuntimeError):
        _ = sandbox.base_url
    assert "stopped" in repr(sandbox)
    async with sandbox:
        assert sandbox.base_url == f"http://127.0.0.1:{sandbox.port}/v2"
        assert sandbox.port > 0
        with pytest.raises(RuntimeError):
            await sandbox.start()
        async with aiohttp.ClientSession() as session:
            api = Api(session, sandbox)
            assert (await api.get("/phone_numbers/jobs")).status == 200
    await sandbox.stop()  # stopping twice is harmless


@pytest.mark.parametrize("model", ["fixed", "sliding", "token-bucket"])
async def test_every_rate_model_limits_and_says_so_in_its_headers(
    make_api: MakeApi, clock: FakeClock, model: str
):
    api = await make_api(clock=clock, rate=3.0, rate_model=model)
    clock.advance(1 - clock.now() % 1 + 0.25)  # a quarter into a second of the server's clock
    answers = [await api.get("/phone_numbers/jobs") for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    assert {a.headers["X-RateLimit-Reset"] for a in answers[:3]} == {"1"}
    stats = api.sandbox.stats()
    assert (stats["rate"]["model"], stats["rate"]["peak_in_any_second"]) == (model, 4)
    # The fixed window has closed; the log still holds three requests of the last second;
    # the bucket has dripped two tokens back, one of which the charged 429 took.
    clock.advance(0.75)
    expected = {"fixed": 200, "sliding": 429, "token-bucket": 200}[model]
    assert (await api.get("/phone_numbers/jobs")).status == expected


async def test_rate_headers_are_a_switch(make_api: MakeApi):
    api = await make_api(rate_headers=False, rate=1.0)
    answers = [await api.get("/phone_numbers/jobs") for _ in range(2)]
    assert [a.status for a in answers] == [200, 429]
    for answer in answers:
        assert not {name.lower() for name in answer.headers} & set(RATE_HEADERS)


async def test_limits_change_mid_run_through_the_control_endpoint(
    make_api: MakeApi, session: aiohttp.ClientSession, clock: FakeClock
):
    api = await make_api(clock=clock, rate=10.0)
    clock.advance(1 - clock.now() % 1)
    for _ in range(3):
        assert (await api.get("/phone_numbers/jobs")).status == 200
    url = api.sandbox.url + "/_sandbox/limits"
    async with session.post(url, json={"rate": 4}) as response:
        assert response.status == 200
        assert (await response.json())["limit_per_window"] == 4
    assert (await api.get("/phone_numbers/jobs")).status == 200  # 4 of 4 spent
    dropped = await api.get("/phone_numbers/jobs")
    assert (dropped.status, dropped.headers["X-RateLimit-Limit"]) == (429, "4")
    async with session.post(url, json={"rate_headers": False}) as response:
        assert response.status == 200
    assert "X-RateLimit-Limit" not in (await api.get("/phone_numbers/jobs")).headers
    async with session.post(url, json={"rate": "fast"}) as response:
        assert response.status == 400
        assert "rate must be a number" in (await response.json())["error"]
    assert api.sandbox.stats()["rate"]["limit_per_second"] == 4


@pytest.mark.parametrize(("status", "code"), [(403, "10010"), (404, "10005"), (500, "10007")])
async def test_the_number_listing_can_be_refused_while_jobs_work(
    make_api: MakeApi, spec_checker: SpecChecker, status: int, code: str
):
    spec_checker.undocumented.add(status)  # the spec lists no 403 or 500 for the listing
    api = await make_api(listing_status=status)
    listing = await api.get("/phone_numbers")
    assert (listing.status, listing.error["code"]) == (status, code)
    created = await api.update({"phone_numbers": [NUMBERS[0]], "tags": ["a"]})
    assert created.status == 202
