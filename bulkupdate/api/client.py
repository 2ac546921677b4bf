"""The only module that talks to aiohttp's client: one session, every request, error mapping.

Every request passes the rate governor first and reports its answer back to it. A 429
pauses everyone and the request goes again (the server did not act on it). A GET that
meets a server error or a broken connection is retried with backoff: reading twice does
no harm. A POST is never retried here: whether its job was created is unknown, and only
the caller can find out (``submitter.py`` reconciles through the jobs list).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TypeVar

import aiohttp
import anyio

from bulkupdate.api.answer_maps import AnswerMaps
from bulkupdate.api.backoff import BackoffPolicy, compute_backoff
from bulkupdate.api.governors import RateGovernor
from bulkupdate.api.wire import (
    Body,
    Job,
    JobsPage,
    Page,
    decode_job,
    decode_jobs_page,
    decode_page,
    error_for,
    rate_headers,
)
from bulkupdate.credentials import check_api_key, check_base_url
from bulkupdate.errors import ApiError, RateLimited, ServerError, TransportError, UsageError
from bulkupdate.request.spec import JobKind
from bulkupdate.settings import DEFAULT_BASE_URL
from bulkupdate.version import __version__

MAX_PAGE_SIZE = 250
GET_ATTEMPTS = 6
LISTING_ATTEMPTS = 3  # the account's number list is an optimisation the run can do without
MAX_THROTTLED_IN_A_ROW = 50
# A success answer from this size up (a page of jobs runs to megabytes) is read into
# memory of its own; see ``_read``. Past the upper bound, as any other.
LARGE_ANSWER = 1 << 20
LARGEST_MAPPED = 1 << 30

GET_BACKOFF = BackoffPolicy(base=0.5, cap=20.0)

Params = Sequence[tuple[str, str]]
_T = TypeVar("_T")


class ApiClient:
    """A Telnyx phone-number jobs client on one aiohttp session.

    Create it inside the running event loop (the session and the limiter bind to it)::

        async with ApiClient(api_key, rate=20) as client:
            job = await client.get_job(job_id)
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate: float = 20.0,
        timeout: float = 60.0,
        governor: RateGovernor | None = None,
        backoff: BackoffPolicy = GET_BACKOFF,
        allow_insecure_http: bool = False,
    ) -> None:
        if not api_key:
            raise UsageError("no API key: set TELNYX_API_KEY")
        # The key goes in every request's header: it must be a key, and travel encrypted.
        check_api_key(api_key, source="the API key")
        check_base_url(base_url, allow_insecure_http=allow_insecure_http, flag="base URL")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.governor = governor or RateGovernor(rate)
        self.backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 15.0))
        self._session: aiohttp.ClientSession | None = None
        self._answer_maps = AnswerMaps()

    def __repr__(self) -> str:
        # Never the key.
        return f"<ApiClient {self.base_url} {self.governor!r}>"

    async def __aenter__(self) -> ApiClient:
        went_out = aiohttp.TraceConfig()
        went_out.on_request_headers_sent.append(self._went_out)
        self._session = aiohttp.ClientSession(
            trace_configs=[went_out],
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "Accept": "application/json",
                "User-Agent": f"bulkupdate/{__version__}",
            },
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=64, limit_per_host=64),
            json_serialize=lambda obj: "",  # bodies are encoded by the caller (orjson)
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._answer_maps.release()  # what comes after the requests need not share the peak
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the endpoints ---------------------------------------------------------------

    async def create_job(self, kind: JobKind, body: bytes, params: Params = ()) -> Job:
        """POST a job; raises ``ServerError``/``TransportError`` when its fate is unknown."""
        _, answer = await self._send("POST", kind.path, params=params, body=body)
        return _decoded(decode_job, answer, "POST", kind.path)

    async def get_job(self, job_id: str) -> Job:
        path = f"/phone_numbers/jobs/{job_id}"
        _, answer = await self._get(path)
        return _decoded(decode_job, answer, "GET", path)

    async def list_jobs(self, kind: JobKind, *, page_size: int, page_number: int = 1) -> JobsPage:
        """A page of jobs of ``kind``, newest first.

        No ``sort`` is sent: the API's default is newest first, while ``sort=created_at``
        could as well mean oldest first.
        """
        params = [
            ("filter[type]", kind.value),
            ("page[number]", str(page_number)),
            ("page[size]", str(min(MAX_PAGE_SIZE, max(1, page_size)))),
        ]
        # A look at the jobs frees slots: it goes ahead of queued submissions.
        _, answer = await self._get("/phone_numbers/jobs", params, priority=True)
        return _decoded(decode_jobs_page, answer, "GET", "/phone_numbers/jobs")

    async def list_phone_numbers(
        self,
        *,
        page_number: int = 1,
        page_size: int = MAX_PAGE_SIZE,
        params: Params = (),
        attempts: int = LISTING_ATTEMPTS,
    ) -> Page:
        """A page of the account's numbers (``GET /phone_numbers``).

        Checking ownership can do without the listing: a few tries by default, not the
        patience a run that takes its numbers from it (``attempts=GET_ATTEMPTS``) needs.
        """
        query = [("page[number]", str(page_number)), ("page[size]", str(page_size)), *params]
        _, answer = await self._get("/phone_numbers", query, attempts=attempts)
        return _decoded(decode_page, answer, "GET", "/phone_numbers")

    # -- transport -------------------------------------------------------------------

    async def _get(
        self,
        path: str,
        params: Params = (),
        *,
        priority: bool = False,
        attempts: int = GET_ATTEMPTS,
    ) -> tuple[int, Body]:
        """A GET, retried with backoff through server errors and broken connections."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._send("GET", path, params=params, priority=priority)
            except (ServerError, TransportError) as exc:
                if attempt == attempts:
                    raise
                hint = exc.retry_after if isinstance(exc, ServerError) else None
                await anyio.sleep(compute_backoff(attempt, self.backoff, hint=hint))
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params = (),
        body: bytes | None = None,
        priority: bool = False,
    ) -> tuple[int, Body]:
        """One request through the governor, re-sent after 429s; errors become exceptions."""
        for _ in range(MAX_THROTTLED_IN_A_ROW):
            try:
                return await self._send_once(method, path, params, body, priority)
            except RateLimited as exc:
                last = exc
                continue  # the governor has paused everyone; this request goes again
        raise last

    async def _send_once(
        self, method: str, path: str, params: Params, body: bytes | None, priority: bool
    ) -> tuple[int, Body]:
        session = self._session
        if session is None:
            raise RuntimeError("ApiClient used outside 'async with'")
        stamp = _Stamp(await self.governor.acquire(priority=priority))
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            # No redirects: the API does not send them, and following one would carry
            # the key's header to wherever it points.
            async with session.request(
                method,
                self.base_url + path,
                params=list(params),
                data=body,
                headers=headers,
                allow_redirects=False,
                trace_request_ctx=stamp,
            ) as response:
                answer = await _read(response, self._answer_maps)
                status = response.status
                rate = rate_headers(response.headers)
        except BaseException as exc:
            self.governor.abandoned()  # cancelled or failed: it will never be answered
            if not isinstance(exc, TimeoutError | aiohttp.ClientError):
                raise
            # No connection was made: the request never reached the server.
            unsent = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
            raise TransportError(f"{method} {path}: {_describe(exc)}", sent=not unsent) from exc
        if status == 429:
            self.governor.throttled(stamp.sent_at, rate)
        else:
            self.governor.answered(stamp.sent_at, rate)
        if status >= 400:
            raise error_for(status, answer, rate)
        if status not in (200, 201, 202):
            raise ApiError(status, [{"code": "", "detail": f"unexpected status {status}"}])
        return status, answer

    async def _went_out(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        """A request's headers are on the wire: pace the next request from now.

        The governor let the request go a moment earlier; when the loop was busy in
        between, the two requests would otherwise reach the server closer together than
        the pace allows, and a strict limiter counts them as a burst.
        """
        stamp = context.trace_request_ctx
        if isinstance(stamp, _Stamp):
            stamp.sent_at = self.governor.went_out()


class _Stamp:
    """When one request left: first the governor's turn, then the wire's word."""

    __slots__ = ("sent_at",)

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at


async def _read(response: aiohttp.ClientResponse, maps: AnswerMaps) -> Body:
    """The answer's body. A large success answer is read into a memory map of at least
    its announced length (``answer_maps.py``): held once, not as its chunks and then
    their join, and given back to the system when dropped, where glibc would keep freed
    blocks of that size on the process's heap (a run reading pages of jobs grew by tens
    of MB that way)."""
    size = response.content_length
    if response.status >= 300 or size is None or not LARGE_ANSWER <= size <= LARGEST_MAPPED:
        return await response.read()
    buffer = maps.take(size)
    try:
        async for chunk in response.content.iter_any():
            buffer.write(chunk)  # aiohttp stops at the announced length, or raises
        return memoryview(buffer)[: buffer.tell()]
    finally:
        maps.give_back(buffer)


def _decoded(decode: Callable[[Body], _T], answer: Body, method: str, path: str) -> _T:
    """A success answer's content; one that cannot be read is no usable answer."""
    try:
        return decode(answer)
    except ValueError as exc:
        raise TransportError(f"{method} {path}: unreadable answer: {exc}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
