"""A POST cancelled on its way keeps its job slot for the job the server may have made."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest

from bulkupdate.api.governors import JobSlots
from bulkupdate.budget.slots import SharedSlots
from bulkupdate.engine.submitter import UNKNOWN_JOB_LENGTH, Submitter
from bulkupdate.input.batching import EntryKind

NUMBERS = ("+13125550100", "+13125550101")


class PostOnItsWay:
    """A client whose POST reaches the server and never comes back."""

    def __init__(self) -> None:
        self.posted = anyio.Event()

    async def create_job(self, *_: Any) -> Any:
        self.posted.set()
        await anyio.sleep_forever()


def submitter_with(client: Any, slots: Any, seconds_per_number: float | None) -> Any:
    request = SimpleNamespace(
        kind=SimpleNamespace(value="update_phone_numbers"),
        encode_body=lambda values: b"{}",
        query_params=dict,
    )
    recorder = SimpleNamespace(posting=lambda *_: None, post_done=lambda _: None)
    ledger = SimpleNamespace(recorder=recorder)
    watcher = SimpleNamespace(seconds_per_number=seconds_per_number)
    parts = cast(Any, (client, request, ledger, slots, watcher, None))
    return Submitter(*parts, clock=lambda: 100.0)


@pytest.mark.parametrize(("per_number", "length"), [(0.5, 1.0), (None, UNKNOWN_JOB_LENGTH)])
async def test_a_post_cancelled_on_its_way_holds_its_slot_until_its_job_would_end(
    per_number: float | None, length: float
) -> None:
    account = JobSlots(2)
    slots = SharedSlots(account).for_run()
    client = PostOnItsWay()
    submitter = submitter_with(client, slots, per_number)
    async with anyio.create_task_group() as group:
        group.start_soon(submitter._submit, None, NUMBERS)
        await client.posted.wait()
        group.cancel_scope.cancel()
    assert submitter.cut_short == [100.0 + length]
    assert account.active == 1  # not given back: the job may exist


class SlowThenLost:
    """A client whose first POST's answer takes 0.3 s, and whose second never comes."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.posts = 0
        self.posted = anyio.Event()

    async def create_job(self, *_: Any) -> Any:
        self.posts += 1
        if self.posts > 1:
            self.posted.set()
            await anyio.sleep_forever()
        self.now[0] += 0.3
        return SimpleNamespace(id="job-1")


async def test_a_post_cut_short_holds_its_slot_as_long_as_an_answer_has_taken_too() -> None:
    now = [100.0]
    account = JobSlots(2)
    slots = SharedSlots(account).for_run()
    client = SlowThenLost(now)
    submitter = submitter_with(client, slots, 0.5)
    submitter._clock = lambda: now[0]
    submitter._adopt = lambda *_, **__: None  # (the first job is not what this looks at)
    await submitter._submit(EntryKind.NUMBER, NUMBERS)
    async with anyio.create_task_group() as group:
        group.start_soon(submitter._submit, EntryKind.NUMBER, NUMBERS)
        await client.posted.wait()
        group.cancel_scope.cancel()
    # The server may make the job as late as 0.3 s after the cancel, and it runs 1 s.
    assert submitter.cut_short == [pytest.approx(100.3 + 0.3 + 1.0)]
