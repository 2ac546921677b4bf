"""The sandbox as a running server: :class:`Sandbox` starts it in-process, on loopback."""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from bulkupdate.sandbox.app import API_PREFIX, HttpFront
from bulkupdate.sandbox.clock import Clock, SystemClock
from bulkupdate.sandbox.config import SandboxConfig
from bulkupdate.sandbox.engine import Engine


class Sandbox:
    """A Telnyx-compatible phone-number jobs server, for trials, tests and benchmarks.

    ::

        async with Sandbox(SandboxConfig(op_ms=1.0), port=0) as sandbox:
            client = make_client(base_url=sandbox.base_url, api_key="any-key")
            ...
            assert sandbox.stats()["jobs"]["overlapping"] == 0

    ``port=0`` picks a free port; :attr:`base_url` says which.
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.clock: Clock = self.config.clock if self.config.clock is not None else SystemClock()
        self.host = host
        self._port = port
        self.engine = Engine(self.config, started_at=self.clock.now())
        self._front = HttpFront(self.engine, self.config, self.clock)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        runner = web.AppRunner(self._front.application(), access_log=None, handle_signals=False)
        await runner.setup()
        self._front.open()
        try:
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            self._front.close()
            raise
        self._runner = runner
        address: Any = runner.addresses[0]
        self._port = int(address[1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            self._front.close()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:8765``."""
        if self._runner is None:
            raise RuntimeError("the sandbox is not running: start it first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8765/v2``."""
        return self.url + API_PREFIX

    def stats(self) -> dict[str, Any]:
        """The same counters as ``GET /_sandbox/stats``."""
        return self._front.run_sync(self._front.stats)

    def reset(self) -> None:
        """Forget jobs, counters and rate windows; numbers back to their initial settings."""
        self._front.reset()

    def set_limits(self, *, rate: float | None = None, headers: bool | None = None) -> None:
        """Change the rate limit, or stop sending rate headers, while clients run.

        The same as ``POST /_sandbox/limits`` with ``{"rate": ..., "rate_headers": ...}``.
        """
        self._front.set_limits(rate=rate, headers=headers)

    def number(self, key: str) -> dict[str, Any] | None:
        """A known number's stored settings (by +E.164 or id), or None.

        The ``PhoneNumberDetailed`` fields plus ``voice``, the full voice settings. Deleted
        numbers are still returned, with status ``deleted``.
        """
        return self._front.run_sync(self._number, key)

    def _number(self, key: str) -> dict[str, Any] | None:
        self.engine.advance(self.clock.now())
        record = self.engine.inventory.find(key)
        if record is None:
            return None
        return {**record.detailed(), "voice": copy.deepcopy(record.voice)}

    def jobs(self) -> list[dict[str, Any]]:
        """Every job since the last reset, oldest first, shown as the API would show it now."""
        return self._front.run_sync(self._jobs)

    def _jobs(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [orjson.loads(self.engine.job_json(job, now)) for job in self.engine.jobs(now)]

    def __repr__(self) -> str:
        where = self.url if self._runner is not None else "stopped"
        return f"Sandbox({where}, {self.engine!r})"
