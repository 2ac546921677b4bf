"""A job slot goes from the submitter to the job once: a job already final in its POST's
answer frees it once, even when settling that job fails the run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest

from bulkupdate.api.governors import JobSlots
from bulkupdate.budget.slots import RunSlots, SharedSlots
from bulkupdate.engine.submitter import Submitter
from bulkupdate.input.batching import EntryKind

NUMBERS = ("+13125550100", "+13125550101")


class QuickServer:
    """A client whose job has ended by the time the POST's answer is read."""

    async def create_job(self, *_: Any) -> Any:
        return SimpleNamespace(id="job-1")


class FailingWatcher:
    """Takes the job's slot and settles it at once, as ``JobWatcher.track`` does with a
    final job; settling fails, as a caller's sink may."""

    seconds_per_number = None

    def __init__(self, slots: RunSlots) -> None:
        self.slots = slots

    def track(self, job: Any, batch: Any, *, posted_at: float | None = None) -> None:
        self.slots.release()
        raise RuntimeError("the caller's sink failed")


async def test_a_job_final_in_its_answer_frees_its_slot_once() -> None:
    account = JobSlots(2)
    slots = SharedSlots(account).for_run()
    request = SimpleNamespace(
        kind=SimpleNamespace(value="update_phone_numbers"),
        encode_body=lambda values: b"{}",
        query_params=dict,
    )
    recorder = SimpleNamespace(posting=lambda *_: None, posted=lambda *_: None)
    ledger = SimpleNamespace(recorder=recorder, submitted=lambda *_: None)
    parts = (QuickServer(), request, ledger, slots, FailingWatcher(slots), None)
    submitter = Submitter(*cast(Any, parts), clock=lambda: 100.0)
    with pytest.raises(RuntimeError):
        await submitter._submit(EntryKind.NUMBER, NUMBERS)
    assert (slots.active, account.active) == (0, 0)
    with anyio.fail_after(1):
        for _ in range(2):
            await slots.acquire()  # the account's two slots, both free
    assert account.active == 2
