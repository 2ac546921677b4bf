"""A server that answers badly: control characters, escape sequences and formulas in its
error details and job fields, redirects, bodies that are not JSON.

It runs on loopback in a thread of the test process (aiohttp.web, its own event loop),
so the command, in its child process, talks to it over real HTTP. A case scripts it:
``answer("POST", "/phone_numbers/jobs/update_phone_numbers", 422, {...})``; a path that
ends in ``/`` answers every path under it. It counts every request it gets.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import orjson
from aiohttp import web

PREFIX = "/v2"


class BadServer:
    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], tuple[int, bytes, dict[str, str]]] = {}
        self.requests: Counter[str] = Counter()
        self.headers: list[Mapping[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- scripting ---------------------------------------------------------------------

    def answer(
        self,
        method: str,
        path: str,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        merged = {"Content-Type": "application/json", **(headers or {})}
        self._answers[(method, PREFIX + path)] = (status, data, merged)

    def reset(self) -> None:
        self._answers.clear()
        self.requests.clear()
        self.headers.clear()

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    # -- serving -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._call(self._start()).result(timeout=30)

    def stop(self) -> None:
        self._call(self._stop()).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def _call(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}{PREFIX}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests[f"{request.method} {request.path}"] += 1
        self.headers.append(dict(request.headers))
        found = self._answers.get((request.method, request.path))
        if found is None:
            for (method, path), answer in self._answers.items():
                if (
                    method == request.method
                    and path.endswith("/")
                    and request.path.startswith(path)
                ):
                    found = answer
                    break
        if found is None:
            found = (404, orjson.dumps({"errors": [{"code": "10005", "title": "Not found"}]}), {})
        status, body, headers = found
        return web.Response(status=status, body=body, headers=headers)
