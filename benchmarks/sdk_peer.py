"""The peer: the script a competent user writes with Telnyx's official ``telnyx`` SDK.

Jobs of 1000 numbers, at most 20 at once (a semaphore, as the API's cap says), created
with ``phone_numbers.jobs.update_batch`` and then retrieved every second until final.
The SDK's own retries (2, with backoff, on 408/409/429/5xx and broken connections) are
all it has: a batch whose request still fails is logged and left, and numbers that
failed inside a job are not sent again.

    python -m benchmarks.sdk_peer NUMBERS.txt --base-url URL [--jobs 20] [--tag benchmark]

The API key comes from TELNYX_API_KEY. Prints one JSON line: batches done and lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import telnyx

FINAL = {"completed", "failed", "expired"}
BATCH = 1000


async def update_batch(
    client: telnyx.AsyncTelnyx, gate: asyncio.Semaphore, numbers: list[str], tag: str
) -> bool:
    async with gate:
        try:
            created = await client.phone_numbers.jobs.update_batch(
                phone_numbers=numbers, tags=[tag]
            )
            job = created.data
            assert job is not None
            assert job.id is not None
            while job.status not in FINAL:
                await asyncio.sleep(1.0)
                fetched = await client.phone_numbers.jobs.retrieve(job.id)
                assert fetched.data is not None
                job = fetched.data
        except telnyx.APIError as exc:
            print(f"batch lost: {type(exc).__name__}: {exc}", file=sys.stderr)
            return False
    return True


async def update_all(numbers: list[str], base_url: str, jobs: int, tag: str) -> None:
    gate = asyncio.Semaphore(jobs)
    async with telnyx.AsyncTelnyx(
        api_key=os.environ["TELNYX_API_KEY"], base_url=base_url
    ) as client:
        batches = [numbers[i : i + BATCH] for i in range(0, len(numbers), BATCH)]
        done = await asyncio.gather(*(update_batch(client, gate, batch, tag) for batch in batches))
    print(json.dumps({"batches": len(batches), "lost": done.count(False)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--tag", default="benchmark")
    args = parser.parse_args()
    with open(args.numbers) as file:
        numbers = [line.strip() for line in file if line.strip()]
    asyncio.run(update_all(numbers, args.base_url, args.jobs, args.tag))


if __name__ == "__main__":
    main()
