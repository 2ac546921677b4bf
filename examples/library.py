"""Use bulkupdate as a library: update numbers from an async service.

Runs against a sandbox started in-process, so it needs no API key:

    python examples/library.py

Against Telnyx, drop the sandbox and pass api_key= (or set TELNYX_API_KEY).
"""

import anyio

from bulkupdate import BulkUpdater, Progress
from bulkupdate.sandbox import Sandbox, SandboxConfig


def show(progress: Progress) -> None:
    print(f"  {progress.numbers_done} done, {progress.jobs_finished} jobs finished")


async def main() -> None:
    numbers = ["+13125550100", "(312) 555-0101", "+1 312 555 0102", "not a number"]
    async with (
        Sandbox(SandboxConfig(op_ms=1.0)) as sandbox,
        BulkUpdater(api_key="any-key", base_url=sandbox.base_url, rate=20) as updater,
    ):
        result = await updater.update(
            numbers,
            {"tags": ["migrated"], "voice": {"call_forwarding": {"forwards_to": "+13035559123"}}},
            default_region="US",
            on_progress=show,
        )
    for outcome in result.outcomes:
        print(outcome.status.value, outcome.value or outcome.raw, outcome.job_ids)
    print(result.totals.as_dict())


if __name__ == "__main__":
    anyio.run(main)
