"""How to read job answers: four ways compared on what a run does with them.

Each way reads the same answers, shaped as the sandbox and Telnyx's API send them, and
takes from each what the engine's decisions need:

* a job just created (its 1000 numbers under ``pending_operations``): id, status, times;
* a job that completed cleanly (its 1000 numbers under ``successful_operations``): its
  status, that nothing failed or is pending, and that the successful operations are
  exactly the numbers sent;
* a page of the jobs list (50 jobs, half of them still running): both of the above.

The ways:

* ``orjson, eager``: ``orjson.loads``, then an object for every operation (the lenient
  reader, ``wire.job_from_json``);
* ``msgspec, every operation``: typed ``Struct``s, every operation decoded;
* ``orjson, lazy access``: ``orjson.loads`` into dicts, then only the fields needed read;
* ``msgspec, lists unread``: typed ``Struct``s for what decisions need, each list of
  numbers kept as raw JSON and read only as far as asked (``wire.decode_job``).

Prints milliseconds per answer (best of 5 rounds) and the peak memory a page takes to
read (tracemalloc).

    python -m benchmarks.wire_cpu
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from bulkupdate.api.wire import (
    JobStatus,
    Operation,
    decode_job,
    decode_jobs_page,
    job_from_json,
)

NUMBERS = [f"+1312{2_000_000 + n:07d}" for n in range(1000)]
SENT = set(NUMBERS)
SENT_IN_ORDER = list(NUMBERS)  # the engine compares the answer's order first (job_states.py)


def job_object(status: str, *, done: bool, rng: random.Random) -> dict[str, Any]:
    refs = [{"id": str(rng.randrange(10**18, 10**19)), "phone_number": n} for n in NUMBERS]
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "record_type": "phone_numbers_job",
        "status": status,
        "type": "update_phone_numbers",
        "etc": "2026-01-05T10:00:01.000000Z",
        "created_at": "2026-01-05T10:00:00.000000Z",
        "updated_at": "2026-01-05T10:00:00.500000Z",
        "phone_numbers": [{"phone_number": n} for n in NUMBERS],
        "successful_operations": refs if done else [],
        "pending_operations": [] if done else refs,
        "failed_operations": [],
    }


# -- the four ways, each taking what the decisions need --------------------------------


def orjson_eager(body: bytes) -> object:
    job = job_from_json(orjson.loads(body)["data"])
    if job.status is JobStatus.COMPLETED:
        return not job.failed and not job.pending and {op.phone_number for op in job.successful}
    return job.etc


class _FullJob(msgspec.Struct, gc=False):
    id: str
    status: JobStatus = JobStatus.PENDING
    etc: str | None = None
    created_at: str | None = None
    phone_numbers: list[dict[str, str]] = []
    successful_operations: list[Operation] = []
    pending_operations: list[Operation] = []
    failed_operations: list[Operation] = []


class _FullAnswer(msgspec.Struct, gc=False):
    data: _FullJob


class _FullPage(msgspec.Struct, gc=False):
    data: list[_FullJob]


_FULL = msgspec.json.Decoder(_FullAnswer)
_FULL_PAGE = msgspec.json.Decoder(_FullPage)


def _full_decision(job: _FullJob) -> object:
    if job.status is JobStatus.COMPLETED:
        ok = {op.phone_number for op in job.successful_operations}
        return not job.failed_operations and not job.pending_operations and ok == SENT
    return job.etc


def msgspec_every_operation(body: bytes) -> object:
    return _full_decision(_FULL.decode(body).data)


def _lazy_decision(data: dict[str, Any]) -> object:
    if data["status"] == "completed":
        ok = {op["phone_number"] for op in data["successful_operations"]}
        return not data["failed_operations"] and not data["pending_operations"] and ok == SENT
    return data["etc"], data["created_at"], data["id"]


def orjson_lazy(body: bytes) -> object:
    return _lazy_decision(orjson.loads(body)["data"])


def msgspec_unread(body: bytes) -> object:
    job = decode_job(body)
    if job.status is JobStatus.COMPLETED:
        return not job.failed and not job.pending and job.successful_keys(False) == SENT_IN_ORDER
    return job.etc


def page_of(read: Callable[[bytes], object]) -> Callable[[bytes], object]:
    """The same way over a page of the jobs list."""
    if read is orjson_eager:
        return lambda body: [
            orjson_eager(orjson.dumps({"data": item})) for item in orjson.loads(body)["data"]
        ]
    if read is msgspec_every_operation:
        return lambda body: [_full_decision(job) for job in _FULL_PAGE.decode(body).data]
    if read is orjson_lazy:
        return lambda body: [_lazy_decision(item) for item in orjson.loads(body)["data"]]
    return lambda body: [
        not job.failed and not job.pending and job.successful_keys(False) == SENT_IN_ORDER
        if job.status is JobStatus.COMPLETED
        else job.etc
        for job in decode_jobs_page(body).jobs
    ]


WAYS: list[tuple[str, Callable[[bytes], object]]] = [
    ("orjson, eager (job_from_json)", orjson_eager),
    ("msgspec, every operation", msgspec_every_operation),
    ("orjson, lazy access", orjson_lazy),
    ("msgspec, lists unread (wire)", msgspec_unread),
]


def best_ms(read: Callable[[bytes], object], body: bytes, rounds: int = 5) -> float:
    read(body)
    repeat = max(1, int(2_000_000 / len(body)))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            read(body)
        best = min(best, (time.perf_counter() - started) / repeat)
    return best * 1000


def peak_mb(read: Callable[[bytes], object], body: bytes) -> float:
    tracemalloc.start()
    read(body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    rng = random.Random(1)
    created = orjson.dumps({"data": job_object("pending", done=False, rng=rng)})
    completed = orjson.dumps({"data": job_object("completed", done=True, rng=rng)})
    page = orjson.dumps(
        {
            "data": [job_object("completed", done=True, rng=rng) for _ in range(25)]
            + [job_object("in_progress", done=False, rng=rng) for _ in range(25)],
            "meta": {"page_number": 1, "total_pages": 1, "total_results": 50},
        }
    )
    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}, orjson "
          f"{orjson.__version__}; answers of {len(created):,}, {len(completed):,} and "
          f"{len(page):,} bytes")  # fmt: skip
    print(f"{'':32} {'created':>9} {'completed':>10} {'page of 50':>11} {'page peak':>10}")
    for name, read in WAYS:
        reads_page = page_of(read)
        print(
            f"{name:32} {best_ms(read, created):7.3f}ms {best_ms(read, completed):8.3f}ms "
            f"{best_ms(reads_page, page):9.2f}ms {peak_mb(reads_page, page):8.1f}MB"
        )


if __name__ == "__main__":
    main()
