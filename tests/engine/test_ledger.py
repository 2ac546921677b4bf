"""The ledger: one outcome per number, attempts, retries with backoff, and in-flight books."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.api.backoff import BackoffPolicy
from bulkupdate.api.wire import ErrorObject, Job, JobStatus, Operation
from bulkupdate.engine.job_states import FILTERED_OUT, NOT_APPLIED_ERROR
from bulkupdate.engine.ledger import RETRY_LINGER, Ledger, NoRecorder, Progress
from bulkupdate.engine.outcomes import OutcomeCollector, OutcomeStatus
from bulkupdate.input.batching import Batch, EntryKind, batched
from bulkupdate.input.scan import Duplicate, Rejection

UNEXPECTED: ErrorObject = {"code": "10007", "detail": "An unexpected error occured."}
TIMEOUT: ErrorObject = {"code": "10008", "detail": "Request timeout"}
INVALID_FIELD: ErrorObject = {"code": "10015", "detail": "The field is invalid."}
NOT_OWNED: ErrorObject = {"code": "not_owned", "detail": "not a number of this account"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Draws:
    """A stand-in for random.random that counts its calls."""

    def __init__(self, *values: float) -> None:
        self.values = list(values) or [0.0]
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[self.calls % len(self.values)]
        self.calls += 1
        return value


def num(n: int) -> str:
    return f"+1312555{n:04d}"


def ident(n: int) -> str:
    return str(1583466971586889000 + n)


def make(
    *,
    batch_size: int = 3,
    max_attempts: int = 3,
    rand: Callable[[], float] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    filtered: bool = False,
) -> tuple[Ledger, OutcomeCollector, Clock]:
    sink = OutcomeCollector()
    clock = Clock()
    ledger = Ledger(
        sink,
        batch_size=batch_size,
        max_attempts=max_attempts,
        retry_backoff=BackoffPolicy(base=1.0, cap=60.0, jitter=0.5),
        clock=clock,
        rand=rand or Draws(0.0),
        on_progress=on_progress,
        filtered=filtered,
    )
    return ledger, sink, clock


def key_op(value: str, *errors: ErrorObject) -> Operation:
    if EntryKind.of(value) is EntryKind.ID:
        return Operation(value, None, errors)
    return Operation(None, value, errors)


def final_job(
    job_id: str,
    batch: Batch,
    *,
    ok: Sequence[str] = (),
    failed: Sequence[tuple[str, ErrorObject]] = (),
    pending: Sequence[str] = (),
    status: JobStatus = JobStatus.COMPLETED,
) -> Job:
    return Job(
        job_id,
        "update_phone_numbers",
        status,
        None,
        None,
        batch.values,
        tuple(key_op(v) for v in ok),
        tuple(key_op(v) for v in pending),
        tuple(key_op(v, e) for v, e in failed),
    )


def send(ledger: Ledger, *values: str) -> Batch:
    batch = Batch(EntryKind.of(values[0]), values)
    ledger.dispatched(batch)
    ledger.submitted("job", batch.values)
    return batch


def test_numbers_that_go_through_first_time_leave_no_history() -> None:
    ledger, sink, _ = make()
    batch = send(ledger, num(0), num(1))
    assert (ledger.in_flight, ledger.active_jobs, ledger.batches_submitted) == (2, 1, 1)
    ledger.finish_job(final_job("j1", batch, ok=[num(0), num(1)]), batch)
    assert [(o.status, o.value, o.attempts, o.job_ids) for o in sink.outcomes] == [
        (OutcomeStatus.SUCCEEDED, num(0), 1, ("j1",)),
        (OutcomeStatus.SUCCEEDED, num(1), 1, ("j1",)),
    ]
    assert ledger.history == {}
    assert (ledger.in_flight, ledger.active_jobs, ledger.jobs_finished) == (0, 0, 1)
    assert ledger.totals.succeeded == 2


def test_a_permanent_failure_is_final_with_the_apis_errors() -> None:
    ledger, sink, _ = make()
    batch = send(ledger, ident(0))
    ledger.finish_job(final_job("j1", batch, failed=[(ident(0), INVALID_FIELD)]), batch)
    (outcome,) = sink.outcomes
    assert outcome.status is OutcomeStatus.FAILED
    assert (outcome.value, outcome.attempts, outcome.job_ids) == (ident(0), 1, ("j1",))
    assert outcome.errors == (INVALID_FIELD,)
    assert len(ledger.pool) == 0
    assert ledger.in_flight == 0


def test_a_transient_failure_waits_its_backoff_in_the_pool() -> None:
    ledger, sink, clock = make(rand=Draws(0.0))
    batch = send(ledger, num(0), num(1))
    ledger.finish_job(final_job("j1", batch, ok=[num(1)], failed=[(num(0), UNEXPECTED)]), batch)
    assert [o.value for o in sink.outcomes] == [num(1)]
    assert ledger.attempts(num(0)) == 1
    assert ledger.history[num(0)].errors == (UNEXPECTED,)
    assert ledger.history[num(0)].job_ids == ["j1"]
    assert ledger.in_flight == 0
    assert len(ledger.pool) == 1
    assert ledger.pool.next_ready_at() == clock.now + 1.0  # base 1 s, no jitter drawn


def test_numbers_left_pending_go_again_and_those_the_filters_left_out_are_skipped() -> None:
    ledger, sink, _ = make(filtered=True)
    batch = send(ledger, num(0), num(1), num(2))
    job = Job(
        "j1",
        "update_phone_numbers",
        JobStatus.EXPIRED,
        None,
        None,
        (num(0), num(1)),  # num(1) and num(2): in none of the lists, left out by filters
        (),
        (key_op(num(0)),),
        (),
    )
    ledger.finish_job(job, batch)
    assert ledger.history[num(0)].errors == (NOT_APPLIED_ERROR,)
    assert [(o.value, o.status, o.errors, o.job_ids) for o in sink.outcomes] == [
        (value, OutcomeStatus.SKIPPED, (FILTERED_OUT,), ("j1",)) for value in (num(1), num(2))
    ]
    assert ledger.in_flight == 0
    assert ledger.totals.skipped == 2
    assert ledger.totals.all_succeeded


def test_a_retry_backoff_counts_from_when_the_failed_attempt_was_sent() -> None:
    ledger, _, clock = make(batch_size=1, max_attempts=5)
    ledger.input_done = True
    batch = send(ledger, num(0))
    # The job ran 0.3 s of the 1 s backoff (no jitter drawn): 0.7 s are left.
    ledger.finish_job(final_job("j1", batch, failed=[(num(0), UNEXPECTED)]), batch, sent_at=99.7)
    assert ledger.next_retry_at() == pytest.approx(100.7)
    clock.now = 100.7
    taken = ledger.take_retry_batch()
    assert taken == batch
    ledger.submitted("job", batch.values)
    # A job that ran longer than the 2 s backoff: ready at once.
    clock.now = 104.0
    ledger.finish_job(final_job("j2", batch, failed=[(num(0), UNEXPECTED)]), batch, sent_at=101.0)
    assert ledger.next_retry_at() == 104.0


def test_retries_stop_at_max_attempts_with_the_last_errors() -> None:
    ledger, sink, clock = make(batch_size=1, max_attempts=3)
    errors = [UNEXPECTED, TIMEOUT, UNEXPECTED]
    ledger.input_done = True
    batch = send(ledger, num(0))
    for attempt, error in enumerate(errors, start=1):
        ledger.finish_job(final_job(f"j{attempt}", batch, failed=[(num(0), error)]), batch)
        if attempt < len(errors):
            assert sink.outcomes == []
            assert ledger.attempts(num(0)) == attempt
            ready_at = ledger.next_retry_at()
            assert ready_at is not None
            assert ready_at == clock.now + 2 ** (attempt - 1)  # 1 s, then 2 s
            clock.now = ready_at - 0.01
            assert ledger.take_retry_batch() is None
            clock.now = ready_at
            taken = ledger.take_retry_batch()
            assert taken == batch
            ledger.submitted("job", taken.values)
    (outcome,) = sink.outcomes
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.attempts == 3
    assert outcome.job_ids == ("j1", "j2", "j3")
    assert outcome.errors == (UNEXPECTED,)
    assert ledger.history == {}
    assert ledger.finished
    assert ledger.totals.retried == 1


def test_a_number_that_succeeds_on_retry_counts_every_attempt() -> None:
    ledger, sink, clock = make(batch_size=1)
    ledger.input_done = True
    batch = send(ledger, num(0))
    ledger.finish_job(final_job("j1", batch, pending=[num(0)]), batch)
    clock.now += 10
    again = ledger.take_retry_batch()
    assert again == batch
    ledger.finish_job(final_job("j2", batch, ok=[num(0)]), batch)
    (outcome,) = sink.outcomes
    assert (outcome.status, outcome.attempts, outcome.job_ids) == (
        OutcomeStatus.SUCCEEDED,
        2,
        ("j1", "j2"),
    )
    assert ledger.history == {}
    assert ledger.totals.retried == 1


def test_a_job_of_first_attempts_without_a_sink_is_only_counted() -> None:
    events: list[tuple[str, dict[str, object]]] = []
    ledger = Ledger(
        None,
        batch_size=3,
        max_attempts=3,
        on_event=lambda name, **fields: events.append((name, fields)),
    )
    batch = send(ledger, num(0), num(1), num(2))
    ledger.finish_job(final_job("j1", batch, ok=[num(2), num(1), num(0)]), batch)
    assert ledger.totals.as_dict() == {
        "entries": 3,
        "succeeded": 3,
        "failed": 0,
        "rejected": 0,
        "duplicates": 0,
        "skipped": 0,
        "retried": 0,
    }
    assert (ledger.in_flight, ledger.active_jobs, ledger.history) == (0, 0, {})
    assert events[0] == ("batch_submitted", {"job_id": "job", "size": 3, "attempt": 1})


def test_a_job_with_failures_keeps_a_row_for_each_number_without_a_sink() -> None:
    told: list[tuple[list[str], list[str], list[str]]] = []
    recorder = NoRecorder()
    # What the journal is told: succeeded, failed and retried numbers, each by name.
    recorder.settled = lambda job_id, status, succeeded, failed, retry, skipped: told.append(  # type: ignore[method-assign]
        (list(succeeded), [value for value, _ in failed], [value for value, _ in retry])
    )
    ledger = Ledger(None, batch_size=3, max_attempts=3, recorder=recorder, clock=Clock())
    batch = send(ledger, num(0), num(1), num(2))
    job = final_job("j1", batch, ok=[num(0)], failed=[(num(1), INVALID_FIELD), (num(2), TIMEOUT)])
    ledger.finish_job(job, batch)
    assert told == [([num(0)], [num(1)], [num(2)])]
    assert (ledger.totals.succeeded, ledger.totals.failed) == (1, 1)
    assert list(ledger.history) == [num(2)]
    assert ledger.history[num(2)].job_ids == ["j1"]


def test_a_clean_job_mixing_first_and_later_attempts_counts_each_number_its_own() -> None:
    ledger, sink, clock = make(batch_size=2)
    ledger.input_done = True
    first = send(ledger, num(0))
    ledger.finish_job(final_job("j1", first, pending=[num(0)]), first)
    clock.now += 10
    assert ledger.take_retry_batch() == first
    both = Batch(EntryKind.NUMBER, (num(0), num(1)))
    ledger.dispatched(Batch(EntryKind.NUMBER, (num(1),)))
    ledger.submitted("j2", both.values)
    ledger.finish_job(final_job("j2", both, ok=[num(0), num(1)]), both)
    assert [(o.value, o.attempts, o.job_ids) for o in sink.outcomes] == [
        (num(0), 2, ("j1", "j2")),
        (num(1), 1, ("j2",)),
    ]
    assert (ledger.totals.succeeded, ledger.totals.retried, ledger.in_flight) == (2, 1, 0)


def test_max_attempts_of_one_means_no_retry() -> None:
    ledger, sink, _ = make(max_attempts=1)
    batch = send(ledger, num(0))
    ledger.finish_job(final_job("j1", batch, failed=[(num(0), UNEXPECTED)]), batch)
    (outcome,) = sink.outcomes
    assert (outcome.status, outcome.attempts, outcome.errors) == (
        OutcomeStatus.FAILED,
        1,
        (UNEXPECTED,),
    )
    assert len(ledger.pool) == 0


def test_a_retry_without_a_job_does_not_use_up_an_attempt() -> None:
    ledger, _, clock = make(max_attempts=1)
    ledger.dispatched(Batch(EntryKind.NUMBER, (num(0),)))
    ledger.retry(num(0), [UNEXPECTED])  # e.g. the job cap: no job was made
    assert ledger.attempts(num(0)) == 0
    assert len(ledger.pool) == 1
    assert ledger.pool.next_ready_at() == clock.now + 1.0
    assert ledger.in_flight == 0


def test_a_failure_outside_any_job_counts_one_attempt_and_no_job() -> None:
    ledger, sink, _ = make()
    ledger.dispatched(Batch(EntryKind.NUMBER, (num(0), num(1))))
    ledger.failed(num(0), [NOT_OWNED])
    (outcome,) = sink.outcomes
    assert (outcome.attempts, outcome.job_ids, outcome.errors) == (1, (), (NOT_OWNED,))
    assert ledger.in_flight == 1


def test_one_jitter_draw_per_job_keeps_its_retries_together() -> None:
    draws = Draws(0.1, 0.9, 0.5)
    ledger, _, clock = make(batch_size=3, rand=draws)
    batch = send(ledger, num(0), num(1), num(2))
    failed = [(value, UNEXPECTED) for value in batch.values]
    ledger.finish_job(final_job("j1", batch, failed=failed), batch)
    assert draws.calls == 1
    ready_at = ledger.pool.next_ready_at()
    assert ready_at is not None
    assert ready_at == pytest.approx(clock.now + 1.0 * (1 - 0.5 * 0.1))
    clock.now = ready_at
    # Input still comes, so only a full batch goes: all three are ready at once.
    assert ledger.take_retry_batch() == batch


def test_while_input_comes_only_full_retry_batches_go() -> None:
    ledger, _, clock = make(batch_size=2)
    batch = send(ledger, num(0), num(1))
    ledger.finish_job(final_job("j1", batch, ok=[num(1)], failed=[(num(0), TIMEOUT)]), batch)
    clock.now += 100
    assert ledger.take_retry_batch() is None
    # Nothing can be taken until the books change: no time to wake up at.
    assert ledger.next_retry_at() is None
    ledger.input_done = True
    assert ledger.next_retry_at() == pytest.approx(clock.now - 99.0)
    taken = ledger.take_retry_batch()
    assert taken == Batch(EntryKind.NUMBER, (num(0),))
    assert ledger.in_flight == 1


def test_after_input_a_part_filled_batch_lingers_while_others_are_in_flight() -> None:
    ledger, _, clock = make(batch_size=10)
    ledger.input_done = True
    first = send(ledger, num(0))
    send(ledger, num(1))  # still in flight: it may need a retry too
    ledger.finish_job(final_job("j1", first, failed=[(num(0), UNEXPECTED)]), first)
    ready = clock.now + 1.0
    assert ledger.next_retry_at() == ready + RETRY_LINGER
    clock.now = ready
    assert ledger.take_retry_batch() is None
    clock.now = ready + RETRY_LINGER
    assert ledger.take_retry_batch() == first


def test_after_input_with_nothing_in_flight_a_part_filled_batch_goes_at_once() -> None:
    ledger, _, clock = make(batch_size=10)
    ledger.input_done = True
    batch = send(ledger, num(0))
    ledger.finish_job(final_job("j1", batch, failed=[(num(0), UNEXPECTED)]), batch)
    assert ledger.in_flight == 0
    assert ledger.next_retry_at() == clock.now + 1.0
    clock.now += 1.0
    assert ledger.take_retry_batch() == batch
    assert ledger.in_flight == 1


def test_the_run_is_finished_only_when_input_flight_and_pool_are_all_done() -> None:
    ledger, _, clock = make(batch_size=1)
    assert not ledger.finished  # input still to come
    batch = send(ledger, num(0))
    ledger.input_done = True
    assert not ledger.finished  # in flight
    ledger.finish_job(final_job("j1", batch, pending=[num(0)]), batch)
    assert ledger.in_flight == 0
    assert not ledger.finished  # waiting for a retry
    clock.now += 5
    again = ledger.take_retry_batch()
    assert again is not None
    assert not ledger.finished
    ledger.finish_job(final_job("j2", again, ok=[num(0)]), again)
    assert ledger.finished


def test_rejections_and_duplicates_are_final_as_they_are_read() -> None:
    ledger, sink, _ = make()
    rejection = Rejection("in.txt", 3, "hello", "not a phone number")
    duplicate = Duplicate("in.txt", 4, num(0))
    ledger.read([num(1), num(2), num(3)], [rejection], [duplicate])
    assert ledger.entries == 5
    assert [o.status for o in sink.outcomes] == [OutcomeStatus.REJECTED, OutcomeStatus.DUPLICATE]
    assert sink.outcomes[0].raw == "hello"
    assert sink.outcomes[1].value == num(0)
    assert ledger.in_flight == 0
    assert ledger.totals.as_dict()["entries"] == 2


def test_progress_reports_a_snapshot_of_the_books() -> None:
    seen: list[Progress] = []
    ledger, _, _ = make(on_progress=seen.append)
    ledger.read([num(0), num(1)], [], [])
    batch = send(ledger, num(0), num(1))
    ledger.finish_job(final_job("j1", batch, ok=[num(0)], failed=[(num(1), TIMEOUT)]), batch)
    ledger.progress()
    assert seen[0].batches_submitted == 1
    assert seen[0].active_jobs == 1
    assert seen[-1] == Progress(
        entries=2,
        numbers_done=1,
        succeeded=1,
        failed=0,
        rejected=0,
        duplicates=0,
        batches_submitted=1,
        jobs_finished=1,
        active_jobs=0,
        waiting_retry=1,
        input_done=False,
    )
    assert "in_flight=0 retry=1" in repr(ledger)


@asynccontextmanager
async def waiting_for_a_change(ledger: Ledger) -> AsyncIterator[list[bool]]:
    """A task waiting for the ledger's books to change: the list gets True when it wakes.
    The block runs once it waits; leaving the block waits (at most 5 s) for it to wake."""
    woke: list[bool] = []

    async def waiter() -> None:
        await ledger.wait_for_change()
        woke.append(True)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            yield woke


async def test_waiting_for_a_change_ends_on_notify_once_retries_wait() -> None:
    ledger, _, _ = make()
    async with waiting_for_a_change(ledger) as woke:
        ledger.notify()  # nothing in the pool: nothing for the feeder to do
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        ledger.pool.add("+13125550100", 0.0)
        ledger.notify()
    assert woke == [True]


async def test_the_end_of_the_run_wakes_whoever_waits_for_a_change() -> None:
    ledger, _, _ = make()
    async with waiting_for_a_change(ledger) as woke:
        ledger.input_done = True  # nothing in flight, nothing waiting: the run is over
        ledger.notify()
    assert woke == [True]


async def test_waiting_for_a_change_gives_up_after_at_most() -> None:
    ledger, _, _ = make()
    with anyio.fail_after(5):
        await ledger.wait_for_change(at_most=0)


# -- a whole run, any way it goes -----------------------------------------------------

FATES = ["ok", "permanent", "transient", "pending", "unmentioned", "left out"]


@settings(max_examples=60, deadline=None)
@given(
    numbers=st.integers(0, 12),
    ids=st.integers(0, 6),
    batch_size=st.integers(1, 4),
    max_attempts=st.integers(1, 4),
    data=st.data(),
)
def test_every_number_ends_with_exactly_one_outcome(
    numbers: int, ids: int, batch_size: int, max_attempts: int, data: st.DataObject
) -> None:
    values = [num(n) for n in range(numbers)] + [ident(n) for n in range(ids)]
    values = data.draw(st.permutations(values))
    draws = Draws(*data.draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=1)))
    ledger, sink, clock = make(batch_size=batch_size, max_attempts=max_attempts, rand=draws)
    inputs = list(batched(values, batch_size))
    ledger.read(values, [], [])
    ledger.input_done = not inputs
    jobs = 0
    queue: list[Batch] = []
    for _ in range(10_000):
        unread = sum(len(batch) for batch in inputs)
        assert len(sink.outcomes) + len(ledger.pool) + ledger.in_flight + unread == len(values)
        if ledger.finished:
            break
        actions = []
        if inputs:
            actions.append("read")
        if queue:
            actions.append("finish")
        ready_at = ledger.next_retry_at()
        if ready_at is not None:
            actions.append("retry")
        assert actions, "nothing can happen, yet the run is not finished"
        action = data.draw(st.sampled_from(actions))
        if action == "read":
            batch = inputs.pop(0)
            ledger.dispatched(batch)
            queue.append(batch)
            ledger.input_done = not inputs
        elif action == "retry":
            assert ready_at is not None
            clock.now = max(clock.now, ready_at)
            taken = ledger.take_retry_batch()
            assert taken is not None, "no batch at the announced time"
            assert len(taken) <= batch_size
            assert {EntryKind.of(v) for v in taken.values} == {taken.kind}
            queue.append(taken)
        else:
            batch = queue.pop(data.draw(st.integers(0, len(queue) - 1)))
            ledger.submitted("job", batch.values)
            jobs += 1
            size = len(batch)
            fates = data.draw(st.lists(st.sampled_from(FATES), min_size=size, max_size=size))
            fate = dict(zip(batch.values, fates, strict=True))
            job = Job(
                f"j{jobs}",
                "update_phone_numbers",
                JobStatus.COMPLETED,
                None,
                None,
                tuple(v for v in batch.values if fate[v] != "left out"),
                tuple(key_op(v) for v in batch.values if fate[v] == "ok"),
                tuple(key_op(v) for v in batch.values if fate[v] == "pending"),
                tuple(key_op(v, INVALID_FIELD) for v in batch.values if fate[v] == "permanent")
                + tuple(key_op(v, UNEXPECTED) for v in batch.values if fate[v] == "transient"),
            )
            ledger.finish_job(job, batch)
        assert ledger.in_flight >= 0
    else:
        pytest.fail("the run never finished")

    assert Counter(o.value for o in sink.outcomes) == Counter(values)
    for outcome in sink.outcomes:
        assert 1 <= outcome.attempts <= max_attempts
        assert len(outcome.job_ids) == outcome.attempts
        if outcome.status is OutcomeStatus.FAILED:
            assert outcome.errors
    assert ledger.history == {}
    assert ledger.active_jobs == 0
    assert ledger.jobs_finished == jobs
