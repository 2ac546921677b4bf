"""The sandbox over HTTP: routes and the ``/v2`` middleware, on aiohttp.web.

Every ``/v2`` request goes through the same steps, in the order the real API is believed to
use: authentication → rate limit → fault injection → the handler (query and body
validation → ownership → job cap). Each answer carries the ``x-ratelimit-*`` headers, is
counted in the stats and is handed to the exchange hook. ``/_sandbox/*`` is outside all that:
no auth, no rate limit, not counted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from aiohttp import web

from bulkupdate.sandbox import refusals
from bulkupdate.sandbox.bodies import parse_delete, parse_emergency, parse_update
from bulkupdate.sandbox.clock import Clock, SystemClock
from bulkupdate.sandbox.config import SandboxConfig, SandboxExchange
from bulkupdate.sandbox.engine import Engine, Job
from bulkupdate.sandbox.filters import NumberFilter
from bulkupdate.sandbox.inventory import NumberRecord
from bulkupdate.sandbox.queries import (
    JobsQuery,
    NumbersQuery,
    parse_jobs_query,
    parse_no_query,
    parse_numbers_query,
    parse_update_query,
)
from bulkupdate.sandbox.ratelimit import BusiestSecond, RateModel, make_limiter
from bulkupdate.sandbox.refusals import ApiRefusal

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_T = TypeVar("_T")

API_PREFIX = "/v2"
JOBS = API_PREFIX + "/phone_numbers/jobs"
NUMBERS = API_PREFIX + "/phone_numbers"


class _Dropped(web.Response):
    """Marks an answer the client must never receive: the middleware hangs up instead."""


def _json(payload: bytes, status: int = 200) -> web.Response:
    return web.Response(body=payload, status=status, content_type="application/json")


def _data(payload: bytes, status: int = 200) -> web.Response:
    return _json(b'{"data":' + payload + b"}", status)


TICK = 0.02  # seconds between two steps of the jobs' progress on the real clock


def _refusal(refusal: ApiRefusal) -> web.Response:
    return _json(orjson.dumps(refusal.body()), refusal.status)


class HttpFront:
    """aiohttp handlers over one :class:`Engine`."""

    def __init__(self, engine: Engine, config: SandboxConfig, clock: Clock) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self.limiter = make_limiter(
            RateModel(config.rate_model),
            config.limit_per_window,
            config.rate_window,
            burst=config.rate_burst,
            count_refused=config.count_refused,
        )
        self.rate = config.rate  # the limit now: a test may change it mid-run
        self.rate_headers = config.rate_headers
        self.busiest = BusiestSecond()
        self._request_no = 0  # requests past auth and rate limit: keys request-level faults
        # The account's work runs here, one request at a time, off the event loop: the
        # loop stays free to take each request as it arrives and count it against the
        # rate limit then, as a real API's edge does, however long a 1000-number job or a
        # page of them takes to set up.
        self._worker: ThreadPoolExecutor | None = None  # while serving
        self._ticker: asyncio.Task[None] | None = None

    def open(self) -> None:
        """Start serving: the worker, and (on the real clock) the jobs' progress."""
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-account")
        if isinstance(self.clock, SystemClock):
            self._ticker = asyncio.get_running_loop().create_task(self._keep_up())

    def close(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)

    async def _keep_up(self) -> None:
        """Apply the running jobs' operations as time passes, a little at a time.

        A real API works on its jobs whether or not anyone asks; left to the next request,
        twenty 1000-number jobs ending together would be worked out in one go, and every
        request arriving meanwhile would wait for it. (A fake clock moves only when a test
        says so: there, the next request works out what is due.)
        """
        while True:
            await self.clock.sleep(TICK)
            if self.engine.active_jobs:
                await self._work(self.engine.advance, self.clock.now())

    async def _work(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on the account's worker."""
        if self._worker is None:
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args))

    def run_sync(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on the account's worker, waited for (for synchronous callers)."""
        if self._worker is None:
            return fn(*args)
        return self._worker.submit(fn, *args).result()

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware()])
        add_get, add_post = app.router.add_get, app.router.add_post
        add_post(JOBS + "/update_phone_numbers", self.create_update)
        add_post(JOBS + "/delete_phone_numbers", self.create_delete)
        add_post(JOBS + "/update_emergency_settings", self.create_emergency)
        add_get(JOBS, self.list_jobs, allow_head=False)
        add_get(JOBS + "/{id}", self.get_job, allow_head=False)
        add_get(NUMBERS, self.list_numbers, allow_head=False)
        add_get(NUMBERS + "/{id}", self.get_number, allow_head=False)
        add_get(NUMBERS + "/{id}/voice", self.get_voice, allow_head=False)
        add_get("/_sandbox/stats", self.get_stats, allow_head=False)
        add_post("/_sandbox/reset", self.post_reset)
        add_post("/_sandbox/limits", self.post_limits)
        return app

    def stats(self) -> dict[str, Any]:
        """Every counter; call on the account's worker (``_work`` or ``run_sync``)."""
        return self.engine.stats_dict(self.clock.now(), rate=self.rate_stats())

    def rate_stats(self) -> dict[str, Any]:
        config = self.config
        return {
            "model": config.rate_model,
            "headers": self.rate_headers,
            "limit_per_second": self.rate,
            "window_seconds": config.rate_window,
            "limit_per_window": self.limiter.limit,
            "peak_in_any_second": self.busiest.peak,
        }

    def reset(self) -> None:
        """Forget jobs, counters and rate windows (for synchronous callers)."""
        self.run_sync(self.engine.reset)
        self._reset_front()

    def _reset_front(self) -> None:
        self.limiter.reset()
        self.busiest.reset()
        self._request_no = 0

    def set_limits(self, *, rate: float | None = None, headers: bool | None = None) -> None:
        """Change the limit or drop the rate headers while clients run (what is spent in the
        current window stays spent); the busiest-second count starts again."""
        if rate is not None:
            limit = int(rate * self.config.rate_window + 1e-9)
            if limit < 1:
                raise ValueError(f"a rate of {rate} admits no request per window")
            self.rate = rate
            self.limiter.limit = limit
        if headers is not None:
            self.rate_headers = headers
        self.busiest.reset()

    # The /v2 pipeline.

    def _middleware(self) -> Any:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path != API_PREFIX and not request.path.startswith(API_PREFIX + "/"):
                return await handler(request)
            return await self._serve(request, handler)

        return middleware

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = self.clock.now()
        body = b""
        key = ""
        verdict = None
        try:
            body = await request.read()
            key = self._authenticate(request)
            self.busiest.record(now)
            verdict = self.limiter.hit(key, now)
            if not verdict.allowed:
                raise refusals.rate_limited()
            await self._request_faults()
            response = await handler(request)
        except ApiRefusal as refusal:
            response = _refusal(refusal)
        except web.HTTPMethodNotAllowed:
            response = _refusal(
                ApiRefusal(405, "10005", "Method not allowed", refusals.NOT_FOUND, pointer="/base")
            )
        except web.HTTPNotFound:
            response = _refusal(refusals.not_found())
        except web.HTTPException as exc:  # e.g. 413 for a body over aiohttp's size limit
            response = _refusal(ApiRefusal(exc.status, "10015", exc.reason, exc.reason))
        except Exception:  # a sandbox bug: answer like the API would, and say so in the log
            log.exception("sandbox: unexpected error serving %s %s", request.method, request.path)
            response = _refusal(refusals.unexpected())
        if verdict is None:
            verdict = self.limiter.peek(key, now)
        if self.rate_headers:
            response.headers.update(verdict.headers())
        if response.status == 429 and self.config.retry_after:
            response.headers["Retry-After"] = str(max(1, verdict.retry_after))
        dropped = isinstance(response, _Dropped)
        self.engine.stats.count_request(_endpoint(request), None if dropped else response.status)
        self._tell_hook(request, body, response, dropped)
        if dropped and request.transport is not None:
            request.transport.abort()
        return response

    def _authenticate(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise refusals.unauthorized()
        if self.config.api_key is not None and token != self.config.api_key:
            raise refusals.unauthorized()
        return token

    async def _request_faults(self) -> None:
        """Faults that hit a request before it does anything, keyed by its number."""
        config, dice = self.config, self.engine.dice
        self._request_no += 1
        if dice.chance(config.error_rate, "error", self._request_no):
            self.engine.stats.faults["errors"] += 1
            raise refusals.unexpected()
        if dice.chance(config.slow_rate, "slow", self._request_no):
            self.engine.stats.faults["slow"] += 1
            await self.clock.sleep(config.slow_ms / 1000)

    def _tell_hook(
        self, request: web.Request, body: bytes, response: web.StreamResponse, dropped: bool
    ) -> None:
        hook = self.config.exchange_hook
        if hook is None:
            return
        payload = response.body if isinstance(response, web.Response) else None
        hook(
            SandboxExchange(
                method=request.method,
                path=request.path,
                query=tuple(request.query.items()),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
                status=0 if dropped else response.status,
                response_headers={name.lower(): v for name, v in response.headers.items()},
                response_body=payload if isinstance(payload, bytes) else b"",
                dropped=dropped,
            )
        )

    # Job endpoints.

    async def create_update(self, request: web.Request) -> web.Response:
        number_filter = parse_update_query(request.query.items())
        raw = await _json_body(request)
        return await self._work(self._create_update, raw, number_filter)

    def _create_update(self, raw: bytes, number_filter: NumberFilter | None) -> web.Response:
        body = parse_update(raw, has_filters=number_filter is not None)
        return self._created(self.engine.create_update(body, number_filter, self.clock.now()))

    async def create_delete(self, request: web.Request) -> web.Response:
        parse_no_query(request.query.items())
        return await self._work(self._create_delete, await _json_body(request))

    def _create_delete(self, raw: bytes) -> web.Response:
        body = parse_delete(raw)
        return self._created(self.engine.create_delete(body, self.clock.now()))

    async def create_emergency(self, request: web.Request) -> web.Response:
        parse_no_query(request.query.items())
        return await self._work(self._create_emergency, await _json_body(request))

    def _create_emergency(self, raw: bytes) -> web.Response:
        body = parse_emergency(raw)
        return self._created(self.engine.create_emergency(body, self.clock.now()))

    def _created(self, job: Job) -> web.Response:
        """202 with the job, unless a fault says the answer is lost after the job exists."""
        config, dice = self.config, self.engine.dice
        if dice.chance(config.drop_after_create_rate, "drop-after-create", job.seq):
            self.engine.stats.faults["dropped_after_create"] += 1
            return _Dropped()
        if dice.chance(config.error_after_create_rate, "error-after-create", job.seq):
            self.engine.stats.faults["errors_after_create"] += 1
            raise refusals.unexpected()
        return _data(self.engine.job_json(job, self.clock.now()), 202)

    async def list_jobs(self, request: web.Request) -> web.Response:
        query = parse_jobs_query(request.query.items())
        return _json(await self._work(self._jobs_page, query))

    def _jobs_page(self, query: JobsQuery) -> bytes:
        return self.engine.jobs_page(query, self.clock.now())

    async def get_job(self, request: web.Request) -> web.Response:
        parse_no_query(request.query.items())
        return _data(await self._work(self._job_json, request.match_info["id"]))

    def _job_json(self, job_id: str) -> bytes:
        now = self.clock.now()
        return self.engine.job_json(self.engine.job(job_id, now), now)

    # Number endpoints.

    async def list_numbers(self, request: web.Request) -> web.Response:
        if self.config.listing_status is not None:
            raise refusals.listing_refusal(self.config.listing_status)
        query = parse_numbers_query(request.query.items())
        return _json(await self._work(self._numbers_page, query))

    def _numbers_page(self, query: NumbersQuery) -> bytes:
        return self.engine.numbers_page(query, self.clock.now())

    async def get_number(self, request: web.Request) -> web.Response:
        parse_no_query(request.query.items())
        record = await self._work(self._number, request.match_info["id"])
        return _data(orjson.dumps(record.detailed()))

    async def get_voice(self, request: web.Request) -> web.Response:
        parse_no_query(request.query.items())
        record = await self._work(self._number, request.match_info["id"])
        return _data(orjson.dumps(record.voice_settings()))

    def _number(self, key: str) -> NumberRecord:
        return self.engine.number(key, self.clock.now())

    # Sandbox controls.

    async def get_stats(self, request: web.Request) -> web.Response:
        return _json(orjson.dumps(await self._work(self.stats)))

    async def post_reset(self, request: web.Request) -> web.Response:
        await self._work(self.engine.reset)
        self._reset_front()
        return _json(b'{"reset":true}')

    async def post_limits(self, request: web.Request) -> web.Response:
        """``{"rate": 10, "rate_headers": false}``: either or both."""
        try:
            change = orjson.loads(await request.read())
            rate, headers = change.get("rate"), change.get("rate_headers")
            if not isinstance(rate, int | float | None) or isinstance(rate, bool):
                raise ValueError("rate must be a number")
            if not isinstance(headers, bool | None):
                raise ValueError("rate_headers must be true or false")
            self.set_limits(rate=rate, headers=headers)
        except (orjson.JSONDecodeError, AttributeError, ValueError) as exc:
            return _json(orjson.dumps({"error": str(exc)}), 400)
        return _json(orjson.dumps(self.rate_stats()))


async def _json_body(request: web.Request) -> bytes:
    if request.content_type != "application/json":
        raise refusals.invalid_body(
            "The request body must be JSON (Content-Type: application/json).", "/", status=400
        )
    return await request.read()


def _endpoint(request: web.Request) -> str:
    """``METHOD /path/{template}`` for stats, with the ``/v2`` prefix left out."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None:
        return f"{request.method} (unmatched)"
    return f"{request.method} {resource.canonical.removeprefix(API_PREFIX)}"
