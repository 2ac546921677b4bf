"""What one job POST costs the client in CPU, as the server keeps it waiting longer.

A minimal server in a child process answers every POST of a batch with the same 202: a
pending job listing its 1000 numbers under ``phone_numbers`` and ``pending_operations``,
as Telnyx's API does, sent after a fixed wait. Three clients POST 1000 numbers, one
request after another, and each is timed by the CPU of its own thread per request:

* ``aiohttp``: one session, the body as bytes, the answer read and nothing more;
* ``bulkupdate``: ``ApiClient.create_job`` (the rate governor's turn, the stamp of when
  the request went out, the answer decoded into a ``Job``);
* ``telnyx SDK``: ``AsyncTelnyx.phone_numbers.jobs.update_batch``, Telnyx's official SDK
  as ``benchmarks/sdk_peer.py`` uses it.

The wait is what the figures are about. A run is bound by the API: the client spends its
time waiting for answers, and on this project's machine a process woken from idle pays
several times the CPU for the same work. So the cost of a request is measured with the
answer coming at once, and after 3, 10 and 30 ms (the sandbox in ``end_to_end_cpu``
takes about 30 ms a POST of new numbers; Telnyx's API longer). What ``bulkupdate`` adds
to ``aiohttp`` is its own work a request; the rest of a run's CPU a job (the journal,
the engine, the list pages) is on top of both.

Prints the median over ``--rounds`` (the clients interleaved in each) of microseconds of
CPU a request.

    python -m benchmarks.request_cpu [--requests 100] [--rounds 3] [--waits 0,3,10,30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import telnyx
from aiohttp import web

from benchmarks.sandbox_process import ServerProcess
from bulkupdate.api.client import ApiClient
from bulkupdate.api.governors import RateGovernor
from bulkupdate.request.spec import JobKind

KEY = "KEYbenchmark0123456789abcdef"
NUMBERS = [f"+1312{2_000_000 + n:07d}" for n in range(1000)]
BODY = orjson.dumps({"phone_numbers": NUMBERS, "tags": ["benchmark"]})
PATH = "/phone_numbers/jobs/update_phone_numbers"

Send = Callable[[], Awaitable[object]]


def job_answer() -> bytes:
    """A POST's answer for ``NUMBERS``, as the API gives it: the job, still pending."""
    refs = [
        {"id": str(1_293_384_261_075_731_499 + n), "phone_number": number}
        for n, number in enumerate(NUMBERS)
    ]
    moment = "2026-12-02T03:00:00.000000Z"
    job = {
        "id": str(uuid.UUID(int=1)),
        "record_type": "phone_numbers_job",
        "status": "pending",
        "type": "update_phone_numbers",
        "etc": "2026-12-02T03:00:05.000000Z",
        "created_at": moment,
        "updated_at": moment,
        "phone_numbers": refs,
        "successful_operations": [],
        "pending_operations": refs,
        "failed_operations": [],
    }
    return orjson.dumps({"data": job})


# -- the server (in its own process) -------------------------------------------------


async def _serve() -> None:
    answer = job_answer()

    async def create(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.Response(body=answer, status=202, content_type="application/json")

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/wait-{ms:[0-9]+}/v2" + PATH, create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"http://{host}:{port}", flush=True)
    await asyncio.Event().wait()  # until the parent stops it


# -- the clients ----------------------------------------------------------------------


async def _cpu_per_request(send: Send, requests: int) -> float:
    """Microseconds of this thread's CPU a request, after one to open the connection."""
    await send()
    start = time.thread_time()
    for _ in range(requests):
        await send()
    return (time.thread_time() - start) / requests * 1e6


async def with_aiohttp(base_url: str, requests: int) -> float:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def send() -> bytes:
            async with session.post(base_url + PATH, data=BODY) as answer:
                answer.raise_for_status()
                return await answer.read()

        return await _cpu_per_request(send, requests)


async def with_bulkupdate(base_url: str, requests: int) -> float:
    # A rate this high never makes a request wait its turn: no timer of its own.
    async with ApiClient(KEY, base_url=base_url, governor=RateGovernor(100_000.0)) as client:
        return await _cpu_per_request(lambda: client.create_job(JobKind.UPDATE, BODY), requests)


async def with_sdk(base_url: str, requests: int) -> float:
    async with telnyx.AsyncTelnyx(api_key=KEY, base_url=base_url, max_retries=0) as client:
        jobs = client.phone_numbers.jobs
        return await _cpu_per_request(
            lambda: jobs.update_batch(phone_numbers=NUMBERS, tags=["benchmark"]), requests
        )


CLIENTS = {"aiohttp": with_aiohttp, "bulkupdate": with_bulkupdate, "telnyx SDK": with_sdk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="timed a client (100)")
    parser.add_argument("--rounds", type=int, default=3, help="of every client and wait (3)")
    parser.add_argument("--waits", default="0,3,10,30", help="the server's waits, in ms")
    parser.add_argument(
        "--clients", default=",".join(CLIENTS), help=f"which ({', '.join(CLIENTS)})"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    waits = [int(ms) for ms in args.waits.split(",")]
    clients = {name: CLIENTS[name] for name in args.clients.split(",")}
    figures: dict[tuple[str, int], list[float]] = {}
    command = [sys.executable, "-m", "benchmarks.request_cpu", "--serve"]
    with ServerProcess(command, "the server") as server:
        root = server.base_url
        for _ in range(args.rounds):
            for ms in waits:
                for name, client in clients.items():
                    cost = asyncio.run(client(f"{root}/wait-{ms}/v2", args.requests))
                    figures.setdefault((name, ms), []).append(cost)
    print(f"python {sys.version.split()[0]}; µs of client CPU a POST of 1000 numbers,")
    print(f"median of {args.rounds} rounds of {args.requests} (spread)\n")
    print(f"{'answer after':>14}" + "".join(f"{name:>24}" for name in clients))
    for ms in waits:
        cells = []
        for name in clients:
            costs = figures[name, ms]
            cells.append(f"{statistics.median(costs):7.0f} ({min(costs):.0f}–{max(costs):.0f})")
        print(f"{ms:>11} ms" + "".join(f"{cell:>24}" for cell in cells))


if __name__ == "__main__":
    main()
