"""One sandbox child process and one bad server for the whole hostile suite, reset
before each case; a fresh folder and environment per case."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.badserver import BadServer
from tests.hostile.world import KEY, World
from tests.processes import SandboxProcess


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    server = SandboxProcess("--rate", "1000", "--op-ms", "1", "--pending-ms", "5")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bad_server() -> Iterator[BadServer]:
    server = BadServer()
    server.start()
    yield server
    server.stop()


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
    return {**env, "TELNYX_API_KEY": KEY, "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def world(sandbox_process: SandboxProcess, tmp_path: Path) -> World:
    """A case against the sandbox: its counters start at zero."""
    root = sandbox_process.base_url.removesuffix("/v2")
    request = urllib.request.Request(root + "/_sandbox/reset", method="POST", data=b"")
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer) == {"reset": True}

    def requests() -> int:
        total: int = sandbox_process.stats()["requests"]["total"]
        return total

    return World(tmp_path, requests, sandbox_process.base_url, _environment())


@pytest.fixture
def bad_world(bad_server: BadServer, tmp_path: Path) -> World:
    """A case against the bad server, with nothing scripted yet."""
    bad_server.reset()
    return World(tmp_path, lambda: bad_server.total, bad_server.base_url, _environment())
