"""Fixtures for the sandbox tests: sandboxes and an HTTP client.

Every sandbox a test starts through ``start_sandbox`` records each ``/v2`` exchange; when the
test ends, each accepted request and each answer is validated against the OpenAPI excerpt
(see ``tests/contract.py``).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from bulkupdate.sandbox import FakeClock, Sandbox, SandboxConfig
from tests.contract import SpecChecker

KEY = "test-key"
NUMBERS = [f"+1312555{n:04d}" for n in range(100, 200)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StartSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def start_sandbox(spec_checker: SpecChecker) -> AsyncIterator[StartSandbox]:
    """Start a sandbox on loopback with the given settings; stopped when the test ends."""
    started: list[Sandbox] = []

    async def start(**settings: Any) -> Sandbox:
        sandbox = Sandbox(SandboxConfig(exchange_hook=spec_checker, **settings))
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        await sandbox.stop()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        """The single error object of an error answer."""
        errors = self.body["errors"]
        assert len(errors) == 1, errors
        return dict(errors[0])

    @property
    def data(self) -> Any:
        return self.body["data"]


class Api:
    """A thin aiohttp client for the sandbox: real loopback HTTP, JSON answers."""

    def __init__(self, session: aiohttp.ClientSession, sandbox: Sandbox, key: str = KEY):
        self.session = session
        self.sandbox = sandbox
        self.key = key

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | io.BytesIO | None = None,
    ) -> Answer:
        sent = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        sent.update(headers or {})
        if json is not None:
            data = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        url = self.sandbox.base_url + path
        async with self.session.request(
            method, url, data=data, params=params, headers=sent
        ) as response:
            raw = await response.read()
            body = orjson.loads(raw) if raw else None
            return Answer(response.status, dict(response.headers), body)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Answer:
        return await self.call("POST", path, json=json, **kwargs)

    async def update(self, body: Any, **kwargs: Any) -> Answer:
        return await self.post("/phone_numbers/jobs/update_phone_numbers", body, **kwargs)

    async def job(self, job_id: str) -> Answer:
        return await self.get(f"/phone_numbers/jobs/{job_id}")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(start_sandbox: StartSandbox, session: aiohttp.ClientSession) -> MakeApi:
    """A started sandbox (settings as keywords) and a client for it."""

    async def make(**settings: Any) -> Api:
        return Api(session, await start_sandbox(**settings))

    return make
