"""The API client's status handling, against aioresponses (the sandbox covers real HTTP)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import orjson
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

import bulkupdate.api.client as client_module
from bulkupdate.api.backoff import BackoffPolicy
from bulkupdate.api.client import GET_ATTEMPTS, ApiClient
from bulkupdate.api.governors import RateGovernor
from bulkupdate.api.rate_model import TIGHT_MARGIN
from bulkupdate.api.wire import JobStatus
from bulkupdate.errors import (
    ApiError,
    AuthError,
    BulkUpdateError,
    NotFoundError,
    RateLimited,
    RequestRefused,
    ServerError,
    TransportError,
    UsageError,
)
from bulkupdate.request.spec import JobKind
from tests.conftest import StartSandbox

KEY = "KEYSECRET0123456789abcdef"
BASE = "https://api.test/v2"
UPDATE = f"{BASE}/phone_numbers/jobs/update_phone_numbers"
UPDATE_WITH_QUERY = re.compile(r"^https://api\.test/v2/phone_numbers/jobs/update_phone_numbers\?")
JOB_ID = "42587e44-3a3e-46de-9255-0c9a7a1d1ec7"
JOB_URL = f"{BASE}/phone_numbers/jobs/{JOB_ID}"
JOBS = re.compile(r"^https://api\.test/v2/phone_numbers/jobs\?.*$")
BODY = orjson.dumps({"phone_numbers": ["+13125550100"], "tags": ["a"]})
NO_WAIT = BackoffPolicy(base=0.001, cap=0.001)

JOB = {
    "id": JOB_ID,
    "record_type": "phone_numbers_job",
    "type": "update_phone_numbers",
    "status": "pending",
    "phone_numbers": [{"phone_number": "+13125550100"}],
    "successful_operations": [],
    "pending_operations": [{"phone_number": "+13125550100"}],
    "failed_operations": [],
}


def errors(code: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "title": "Error", "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return {"errors": [error]}


class _Response(aiohttp.ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer`` argument
    (pnuckowski/aioresponses#289); an answer it builds was sent in full, so a writer
    that wrote nothing more stands in."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("aioresponses.core.ClientResponse", _Response)
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    governor = RateGovernor(10_000.0)
    async with ApiClient(KEY, base_url=BASE + "/", governor=governor, backoff=NO_WAIT) as c:
        yield c


def calls(mocked: Any, method: str = "POST", url: str = UPDATE) -> list[Any]:
    return list(mocked.requests.get((method, URL(url)), []))


def all_calls(mocked: Any) -> list[tuple[str, URL, Any]]:
    return [(method, url, call) for (method, url), cs in mocked.requests.items() for call in cs]


def assert_no_key(exc: BaseException | None) -> None:
    while exc is not None:
        assert KEY not in str(exc)
        assert KEY not in repr(exc)
        exc = exc.__cause__


# -- success ----------------------------------------------------------------------------


async def test_a_created_job_comes_back_as_a_job(mocked: Any, client: ApiClient) -> None:
    mocked.post(UPDATE_WITH_QUERY, status=202, payload={"data": JOB})
    params = [("filter[tag]", "old"), ("filter[status]", "active")]
    job = await client.create_job(JobKind.UPDATE, BODY, params)
    assert job.id == JOB_ID
    assert job.status is JobStatus.PENDING
    (method, url, call), *rest = all_calls(mocked)
    assert rest == []
    assert method == "POST"
    assert url.path == "/v2/phone_numbers/jobs/update_phone_numbers"
    assert call.kwargs["params"] == params
    assert sorted(url.query.items()) == sorted(params)
    assert call.kwargs["data"] == BODY
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert call.kwargs["headers"]["Accept"] == "application/json"
    assert client.governor.requests == 1
    assert client.governor.model.unanswered == 0


async def test_a_job_is_read_by_id(mocked: Any, client: ApiClient) -> None:
    mocked.get(JOB_URL, status=200, payload={"data": {**JOB, "status": "completed"}})
    job = await client.get_job(JOB_ID)
    assert job.status is JobStatus.COMPLETED
    (call,) = calls(mocked, "GET", JOB_URL)
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert call.kwargs.get("data") is None


async def test_the_jobs_list_sends_its_query(mocked: Any, client: ApiClient) -> None:
    page = {"data": [JOB, "junk"], "meta": {"page_number": 2, "total_pages": 3}}
    mocked.get(JOBS, status=200, payload=page)
    result = await client.list_jobs(JobKind.DELETE, page_size=1000, page_number=2)
    (_, url, call), *_ = all_calls(mocked)
    assert url.path == "/v2/phone_numbers/jobs"
    assert call.kwargs["params"] == [
        ("filter[type]", "delete_phone_numbers"),
        ("page[number]", "2"),
        ("page[size]", "250"),  # the API's maximum
    ]
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert (result.page_number, result.total_pages) == (2, 3)
    assert [job.id for job in result.jobs] == [JOB_ID]  # the junk item is left out


async def test_a_page_size_below_one_asks_for_one(mocked: Any, client: ApiClient) -> None:
    mocked.get(JOBS, status=200, payload={"data": []})
    await client.list_jobs(JobKind.UPDATE, page_size=0)
    (_, url, _), *_ = all_calls(mocked)
    assert url.query["page[size]"] == "1"


async def test_the_numbers_list_sends_paging_and_filters(mocked: Any, client: ApiClient) -> None:
    mocked.get(re.compile(r"^https://api\.test/v2/phone_numbers\?.*$"), payload={"data": []})
    await client.list_phone_numbers(page_number=3, params=[("filter[tag]", "x")])
    (_, url, call), *_ = all_calls(mocked)
    assert url.path == "/v2/phone_numbers"
    assert call.kwargs["params"] == [
        ("page[number]", "3"),
        ("page[size]", "250"),
        ("filter[tag]", "x"),
    ]


# -- error statuses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, errors("10009", "Could not understand the provided credentials."), AuthError),
        (403, errors("10010", "Billing group not found"), AuthError),
        (404, errors("10005", "The requested resource or URL could not be found."), NotFoundError),
        (400, errors("10015", "Bad Request"), ApiError),
    ],
)
async def test_refusals_raise_their_exception_and_are_not_sent_again(
    mocked: Any, client: ApiClient, status: int, body: dict[str, Any], kind: type[ApiError]
) -> None:
    mocked.post(UPDATE, status=status, payload=body)
    mocked.get(JOB_URL, status=status, payload=body)
    with pytest.raises(kind) as post_error:
        await client.create_job(JobKind.UPDATE, BODY)
    with pytest.raises(kind) as get_error:
        await client.get_job(JOB_ID)
    for raised in (post_error.value, get_error.value):
        assert type(raised) is kind
        assert raised.status == status
        assert raised.errors == body["errors"]
    assert len(calls(mocked)) == 1
    assert len(calls(mocked, "GET", JOB_URL)) == 1


async def test_a_refused_request_carries_the_apis_error_objects(
    mocked: Any, client: ApiClient
) -> None:
    body = errors("10015", "You must own every number in the bulk request", "/phone_numbers")
    mocked.post(UPDATE, status=422, payload=body)
    with pytest.raises(RequestRefused) as raised:
        await client.create_job(JobKind.UPDATE, BODY)
    assert raised.value.errors == body["errors"]
    assert raised.value.codes == ["10015"]
    assert len(calls(mocked)) == 1


async def test_an_unexpected_success_status_is_an_api_error(mocked: Any, client: ApiClient) -> None:
    mocked.post(UPDATE, status=204, body=b"")
    with pytest.raises(ApiError, match="unexpected status 204"):
        await client.create_job(JobKind.UPDATE, BODY)


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"data": "no job"}', b"[]"])
async def test_an_unreadable_answer_is_a_transport_error(
    mocked: Any, client: ApiClient, body: bytes
) -> None:
    mocked.post(UPDATE, status=202, body=body)
    with pytest.raises(TransportError, match="unreadable"):
        await client.create_job(JobKind.UPDATE, BODY)
    mocked.get(JOBS, status=200, body=body)
    with pytest.raises(TransportError, match="unreadable"):
        await client.list_jobs(JobKind.UPDATE, page_size=10)


# -- 429: pause, then the same request again --------------------------------------------


class FakeTime:
    """A clock for the governor and a stand-in for anyio.sleep that only moves it."""

    def __init__(self, log: list[str]) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.log = log

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.log.append(f"sleep {seconds:.2f}")
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch, log: list[str]) -> FakeTime:
    fake = FakeTime(log)
    monkeypatch.setattr(anyio, "sleep", fake.sleep)
    return fake


def logged(log: list[str], status: int, **kwargs: Any) -> Callable[..., CallbackResult]:
    def callback(url: URL, **_: Any) -> CallbackResult:
        log.append(f"{status}")
        return CallbackResult(status=status, **kwargs)

    return callback


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_throttled_request_goes_again_after_the_pause(
    mocked: Any, fake_time: FakeTime, log: list[str], method: str
) -> None:
    throttled = errors("10011", "You have exceeded the maximum number of allowed requests.")
    url = UPDATE if method == "POST" else JOB_URL
    retry_after = {"Retry-After": "3", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9"}
    mocked.add(url, method, callback=logged(log, 429, payload=throttled, headers=retry_after))
    ok = 202 if method == "POST" else 200
    mocked.add(url, method, callback=logged(log, ok, payload={"data": JOB}))
    governor = RateGovernor(10_000.0, clock=fake_time)
    async with ApiClient(KEY, base_url=BASE, governor=governor, backoff=NO_WAIT) as client:
        if method == "POST":
            job = await client.create_job(JobKind.UPDATE, BODY)
        else:
            job = await client.get_job(JOB_ID)
    assert job.id == JOB_ID
    assert log == ["429", "sleep 3.00", str(ok)]
    assert governor.model.throttled == 1
    # The first 429 at the configured rate widens the spacing rather than cut the rate.
    assert governor.model.rate == 10_000.0
    assert governor.model.margin == 2 * TIGHT_MARGIN
    assert governor.requests == 2
    assert len(calls(mocked, method, url)) == 2


async def test_throttled_without_end_the_request_gives_up(
    mocked: Any, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fewer rounds than the real limit: each 429 halves the rate, and the bucket drips
    # on the real loop clock.
    monkeypatch.setattr("bulkupdate.api.client.MAX_THROTTLED_IN_A_ROW", 4)
    throttled = errors("10011", "You have exceeded the maximum number of allowed requests.")
    mocked.post(UPDATE, status=429, payload=throttled, headers={"Retry-After": "1"}, repeat=True)
    governor = RateGovernor(10_000.0, clock=fake_time)
    async with ApiClient(KEY, base_url=BASE, governor=governor) as client:
        with pytest.raises(RateLimited) as raised:
            await client.create_job(JobKind.UPDATE, BODY)
    assert raised.value.retry_after == 1.0
    assert len(calls(mocked)) == 4
    assert governor.model.throttled == 4
    assert fake_time.sleeps == pytest.approx([1.0] * 3)
    assert governor.model.unanswered == 0


# -- server errors and broken connections -------------------------------------------------


async def test_a_get_rides_out_server_errors_with_backoff(
    mocked: Any, fake_time: FakeTime, log: list[str]
) -> None:
    failure = errors("10007", "An unexpected error occured.")
    mocked.get(JOB_URL, callback=logged(log, 500, payload=failure))
    mocked.get(JOB_URL, callback=logged(log, 503, body=b"upstream down"))
    mocked.get(JOB_URL, exception=aiohttp.ClientConnectionError("Connection reset by peer"))
    mocked.get(JOB_URL, callback=logged(log, 200, payload={"data": JOB}))
    governor = RateGovernor(10_000.0, clock=fake_time)
    steady = BackoffPolicy(base=0.25, cap=10.0, jitter=0.0)
    async with ApiClient(KEY, base_url=BASE, governor=governor, backoff=steady) as client:
        job = await client.get_job(JOB_ID)
    assert job.id == JOB_ID
    assert fake_time.sleeps == [0.25, 0.5, 1.0]  # backoff between attempts, nothing else
    assert log == ["500", "sleep 0.25", "503", "sleep 0.50", "sleep 1.00", "200"]
    assert len(calls(mocked, "GET", JOB_URL)) == 4
    assert governor.model.unanswered == 0


async def test_a_get_gives_up_after_its_attempts(mocked: Any, client: ApiClient) -> None:
    mocked.get(JOB_URL, status=502, payload=errors("10007", "Bad gateway"), repeat=True)
    with pytest.raises(ServerError) as raised:
        await client.get_job(JOB_ID)
    assert raised.value.status == 502
    assert len(calls(mocked, "GET", JOB_URL)) == GET_ATTEMPTS


async def test_a_server_error_on_a_get_honours_retry_after(
    mocked: Any, fake_time: FakeTime
) -> None:
    mocked.get(JOB_URL, status=503, headers={"Retry-After": "7"})
    mocked.get(JOB_URL, status=200, payload={"data": JOB})
    governor = RateGovernor(10_000.0, clock=fake_time)
    policy = BackoffPolicy(base=0.25, cap=10.0)
    async with ApiClient(KEY, base_url=BASE, governor=governor, backoff=policy) as client:
        await client.get_job(JOB_ID)
    assert fake_time.sleeps == [7.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_a_post_that_meets_a_server_error_is_not_sent_again(
    mocked: Any, client: ApiClient, status: int
) -> None:
    mocked.post(UPDATE, status=status, payload=errors("10007", "An unexpected error occured."))
    mocked.post(UPDATE, status=202, payload={"data": JOB})  # would answer a resend
    with pytest.raises(ServerError) as raised:
        await client.create_job(JobKind.UPDATE, BODY)
    assert raised.value.status == status
    assert len(calls(mocked)) == 1


@pytest.mark.parametrize(
    "exception",
    [
        TimeoutError(),
        aiohttp.ServerTimeoutError("Timeout on reading data from socket"),
        aiohttp.ClientConnectionError("Connection reset by peer"),
        aiohttp.ServerDisconnectedError(),
    ],
)
async def test_a_post_without_an_answer_is_not_sent_again(
    mocked: Any, client: ApiClient, exception: Exception
) -> None:
    mocked.post(UPDATE, exception=exception)
    mocked.post(UPDATE, status=202, payload={"data": JOB})
    with pytest.raises(TransportError, match="POST /phone_numbers/jobs/update_phone_numbers") as e:
        await client.create_job(JobKind.UPDATE, BODY)
    assert e.value.__cause__ is exception
    assert len(calls(mocked)) == 1
    assert client.governor.model.unanswered == 0


async def test_a_timeout_is_described_as_one(mocked: Any, client: ApiClient) -> None:
    mocked.post(UPDATE, exception=TimeoutError())
    with pytest.raises(TransportError, match=r"timed out$"):
        await client.create_job(JobKind.UPDATE, BODY)


# -- the key stays secret -----------------------------------------------------------------


async def test_the_key_never_shows_in_repr_or_errors(mocked: Any, client: ApiClient) -> None:
    assert KEY not in repr(client)
    assert BASE in repr(client)
    mocked.post(UPDATE, status=401, payload=errors("10009", "Bad credentials"))
    mocked.post(UPDATE, status=500, body=b"oops")
    mocked.post(UPDATE, status=422, payload=errors("10015", "The field is invalid."))
    mocked.post(UPDATE, exception=aiohttp.ClientConnectionError("reset"))
    mocked.post(UPDATE, status=202, body=b"not json")
    mocked.get(JOB_URL, status=404, payload=errors("10005", "Not found"))
    raised: list[BaseException] = []
    for _ in range(5):
        with pytest.raises(BulkUpdateError) as error:
            await client.create_job(JobKind.UPDATE, BODY)
        raised.append(error.value)
    with pytest.raises(NotFoundError) as not_found:
        await client.get_job(JOB_ID)
    raised.append(not_found.value)
    assert {type(e) for e in raised} == {
        AuthError,
        ServerError,
        RequestRefused,
        TransportError,
        NotFoundError,
    }
    for exc in raised:
        assert_no_key(exc)


# -- construction -------------------------------------------------------------------------


def test_a_client_needs_a_key() -> None:
    with pytest.raises(UsageError, match="TELNYX_API_KEY"):
        ApiClient("")


@pytest.mark.parametrize("base_url", ["api.telnyx.com/v2", "ftp://api.telnyx.com", ""])
def test_a_client_needs_an_http_base_url(base_url: str) -> None:
    with pytest.raises(UsageError, match=r"must be an http:// or https:// URL") as raised:
        ApiClient(KEY, base_url=base_url)
    assert KEY not in str(raised.value)


async def test_a_client_outside_its_context_refuses_to_send() -> None:
    client = ApiClient(KEY, base_url=BASE, governor=RateGovernor(10_000.0))
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        await client.get_job(JOB_ID)


async def test_a_post_that_cannot_connect_is_known_not_to_have_been_sent() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v2"
    async with ApiClient(KEY, base_url=base, governor=RateGovernor(10_000.0)) as client:
        with pytest.raises(TransportError) as raised:
            await client.create_job(JobKind.UPDATE, BODY)
    assert raised.value.sent is False  # so no job can exist: nothing to reconcile
    assert KEY not in str(raised.value)


async def test_a_large_answer_read_into_a_map_reads_as_any_other(
    start_sandbox: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over real loopback HTTP: a page of jobs read into a memory map of its announced
    length decodes to the same jobs as one read whole."""
    sandbox = await start_sandbox(op_ms=0.0, checked=False)
    sent = [[f"+1312555{n:04d}" for n in range(start, start + 300)] for start in (0, 300)]
    async with ApiClient(KEY, base_url=sandbox.base_url, rate=1000) as client:
        for numbers in sent:
            body = {"phone_numbers": numbers, "tags": ["x"]}
            await client.create_job(JobKind.UPDATE, orjson.dumps(body))
        whole = await client.list_jobs(JobKind.UPDATE, page_size=10)
        monkeypatch.setattr(client_module, "LARGE_ANSWER", 1000)  # this page is 40 KB
        mapped = await client.list_jobs(JobKind.UPDATE, page_size=10)
    assert mapped == whole
    assert [job.successful_keys(False) for job in mapped.jobs] == [sent[1], sent[0]]


class _Witness(RateGovernor):
    """A governor that notes, in order, each turn it gives, each word that a request
    went on the wire, and the time each answer is said to have been sent at."""

    def __init__(self) -> None:
        super().__init__(10_000.0)
        self.seen: list[tuple[str, float]] = []

    async def acquire(self, *, priority: bool = False) -> float:
        turn = await super().acquire(priority=priority)
        self.seen.append(("turn", turn))
        return turn

    def went_out(self) -> float:
        now = super().went_out()
        self.seen.append(("went out", now))
        return now

    def answered(self, sent_at: float, headers: Any) -> None:
        self.seen.append(("answered", sent_at))
        super().answered(sent_at, headers)


async def test_each_request_is_paced_from_when_it_went_on_the_wire(
    start_sandbox: StartSandbox,
) -> None:
    """Over real loopback HTTP, the first request opening its connection: every request
    tells the governor it went out, after its turn, and its answer counts from then."""
    sandbox = await start_sandbox()
    governor = _Witness()
    async with ApiClient(KEY, base_url=sandbox.base_url, governor=governor) as client:
        job = await client.create_job(JobKind.UPDATE, BODY)
        await client.get_job(job.id)
    kinds = [kind for kind, _ in governor.seen]
    assert kinds == ["turn", "went out", "answered"] * 2
    times = [at for _, at in governor.seen]
    for turn, went, answered in zip(times[::3], times[1::3], times[2::3], strict=True):
        assert turn <= went
        assert answered == went  # not the turn's time
