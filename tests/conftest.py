"""Fixtures shared by every test: the OpenAPI contract checker, and sandboxes for the
engine's end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI

from bulkupdate.sandbox import Sandbox, SandboxConfig
from tests.contract import SPEC, SpecChecker

StartSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


@pytest.fixture
def spec_checker(openapi: OpenAPI) -> Iterator[SpecChecker]:
    checker = SpecChecker(openapi)
    yield checker
    problems = checker.problems()
    assert not problems, "\n".join(problems)


@pytest.fixture
async def start_sandbox(spec_checker: SpecChecker) -> AsyncIterator[StartSandbox]:
    """Start a quick sandbox (5 ms pending, 0.05 ms a number unless told otherwise) on
    loopback; stopped when the test ends.

    ``checked=False`` leaves its exchanges unchecked against the contract: a test of
    hundreds of jobs may leave that to the others, checking its pages of jobs would take
    longer than the run.
    """
    started: list[Sandbox] = []

    async def start(*, checked: bool = True, **settings: Any) -> Sandbox:
        settings.setdefault("pending_ms", 5.0)
        settings.setdefault("op_ms", 0.05)
        hook = spec_checker if checked else None
        sandbox = Sandbox(SandboxConfig(exchange_hook=hook, **settings))
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        await sandbox.stop()
