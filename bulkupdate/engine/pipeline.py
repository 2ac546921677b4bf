"""The engine: input chunks → batches → submitters → watched jobs → outcomes.

One anyio task group holds every task. Stages talk through bounded memory object
streams: the reader and the retry feeder both send batches into one zero-buffer work
stream (each with its own clone), so at most one batch waits per producer and memory
stays flat whatever the input's size. Retries never go back into a stream a worker
reads from while it is full: they wait in the ledger's pool, from which the reader
folds ready ones into its next batches, and the feeder sends full batches of them (or,
once the input is read, any that are ready) when a submitter is free. Once the input is
read, each submitter that gets a job slot sends only its share of what is left (see
``tail_sizes.py``) and gives the rest back to the pool, so the last jobs end together. The run
ends when the input is read and the ledger has nothing in flight and nothing waiting:
the feeder closes its stream, the submitters drain and leave, the watcher sees its last
job end.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkupdate.api.client import ApiClient
from bulkupdate.api.governors import JobSlots
from bulkupdate.api.loop_clock import loop_time
from bulkupdate.budget.slots import RunSlots, SharedSlots
from bulkupdate.engine.ledger import Ledger, Progress, Recorder
from bulkupdate.engine.outcomes import OutcomeSink, Totals
from bulkupdate.engine.ownership import OwnershipResolver, OwnershipStats
from bulkupdate.engine.resume_state import ResumeState
from bulkupdate.engine.retry_pool import History
from bulkupdate.engine.submitter import Submitter
from bulkupdate.engine.waiting_room import WaitingRoom
from bulkupdate.engine.watcher import JobWatcher
from bulkupdate.errors import first_known_error
from bulkupdate.input.batching import Batch, Batcher, EntryKind
from bulkupdate.input.scan import Chunk
from bulkupdate.request.spec import JobRequest
from bulkupdate.settings import EngineSettings

EXTRA_SUBMITTERS = 4  # beyond one per job slot: bisections hold a submitter a while
# Numbers that may wait for the inventory's listing, in batches per job slot: as the
# pages come in they must name enough of them to keep every slot busy.
ROOM_BATCHES_PER_SLOT = 2


@dataclass(frozen=True, slots=True)
class EngineStats:
    """What a run spent: requests, throttling, jobs, and how refusals were handled."""

    totals: Totals
    requests: int
    throttled: int
    jobs_created: int
    polls: int
    reconciled: int
    cap_refusals: int
    final_job_cap: int
    final_rate: float
    ownership: OwnershipStats


async def run_engine(
    client: ApiClient,
    request: JobRequest,
    chunks: AsyncIterable[Chunk],
    sink: OutcomeSink | None = None,
    settings: EngineSettings | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    input_fraction: Callable[[], float | None] = lambda: None,
    recorder: Recorder | None = None,
    resume: ResumeState | None = None,
    on_event: Callable[..., None] | None = None,
    slots: RunSlots | None = None,
) -> EngineStats:
    """Run every entry of ``chunks`` through the API; outcomes go to ``sink`` (if any).

    ``input_fraction`` tells how much of the input has been read (0..1), if known; the
    ownership resolver uses it to estimate what is still to come. ``recorder`` (a
    ``Journal``) is told every step before it is taken. ``resume`` is what an earlier
    run of the same input left unfinished: its jobs are watched again, its lost POSTs
    looked for, its queued and retrying numbers sent, and the first
    ``resume.chunks_read`` chunks of ``chunks`` (already recorded) are passed over.
    ``slots``: this run's share of job slots it shares with other runs (see ``budget``);
    by default the run has ``settings.max_active_jobs`` to itself.
    """
    settings = settings or EngineSettings()
    ledger = Ledger(
        sink,
        batch_size=settings.batch_size,
        max_attempts=settings.max_attempts,
        on_progress=on_progress,
        filtered=bool(request.query_params()),
        recorder=recorder,
        on_event=on_event,
    )
    if slots is None:
        slots = SharedSlots(JobSlots(settings.max_active_jobs)).for_run()
    watcher = JobWatcher(client, request.kind, ledger, slots)

    batches_read = 0

    def total_batches() -> float:
        """The input's batches, estimated from how much of it has been read so far."""
        if ledger.input_done:
            return batches_read + len(ledger.pool) / settings.batch_size
        fraction = input_fraction()
        if fraction is None or fraction <= 0:
            return 2.0 * batches_read  # unknown: assume as much again is coming
        return batches_read / fraction

    resolver = OwnershipResolver(
        client,
        settings.ownership,
        total_batches=total_batches,
        batch_size=settings.batch_size,
        room=WaitingRoom(
            ROOM_BATCHES_PER_SLOT * settings.max_active_jobs * settings.batch_size, ledger.give_back
        ),
    )
    resolver.on_listing_failed = lambda reason: ledger.event("listing_unavailable", reason=reason)
    submitter = Submitter(client, request, ledger, slots, watcher, resolver)

    async def read_input(send: MemoryObjectSendStream[Batch]) -> None:
        async def send_all(batches: list[Batch]) -> None:
            nonlocal batches_read
            if ledger.input_read:
                ledger.reader_holding += sum(len(batch) for batch in batches)
            for batch in batches:
                batches_read += 1
                ledger.dispatched(batch)
                await _send(send, batch)
                if ledger.input_read:
                    ledger.reader_holding -= len(batch)

        batcher = Batcher(settings.batch_size)
        async with send:
            # Numbers an earlier run read but never got into a job go first.
            await send_all(batcher.add(unsent))
            skip = resume.chunks_read if resume is not None else 0
            async for chunk, last in _marking_the_last(chunks):
                if skip:
                    skip -= 1  # recorded by the earlier run: every entry has its state
                    continue
                ledger.read(chunk.values, chunk.rejections, chunk.duplicates)
                if last:
                    # What is left of the input is in batches now: the tail can be planned
                    # (see tail_sizes.py) before the last of them are handed out.
                    ledger.input_read = True
                    watcher.nudge()
                # Numbers ready to go again join the fresh ones: full batches, and no
                # retries left waiting for a batch of their own when the input ends.
                ready = batcher.add(ledger.take_ready_retries())
                await send_all(
                    [*ready, *batcher.add(chunk.values), *(batcher.flush() if last else [])]
                )
            ledger.input_read = True
            await send_all(batcher.flush())
        ledger.input_done = True
        ledger.notify()
        watcher.nudge()
        ledger.progress()

    async def feed_retries(send: MemoryObjectSendStream[Batch]) -> None:
        async with send:
            while not ledger.finished:
                batch = ledger.take_retry_batch()
                if batch is not None:
                    await _send(send, batch)
                    continue
                ready_at = ledger.next_retry_at()
                at_most = None if ready_at is None else max(0.0, ready_at - loop_time())
                await ledger.wait_for_change(at_most)

    async def submit(receive: MemoryObjectReceiveStream[Batch]) -> None:
        async with receive:
            while (batch := await _receive(receive)) is not None:
                ledger.submitting += 1
                try:
                    await submitter.handle(batch)
                finally:
                    ledger.submitting -= 1
                ledger.notify()
                if ledger.nothing_to_submit:
                    watcher.nudge()

    async def submitters(receive: MemoryObjectReceiveStream[Batch]) -> None:
        async with anyio.create_task_group() as group, receive:
            for _ in range(settings.max_active_jobs + EXTRA_SUBMITTERS):
                group.start_soon(submit, receive.clone())
        watcher.close()

    send, receive = anyio.create_memory_object_stream[Batch](0)
    try:
        unsent: list[str] = []
        if resume is not None:
            unsent = await _pick_up(resume, ledger, slots, watcher, submitter)
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run)
            group.start_soon(submitters, receive)
            group.start_soon(read_input, send.clone())
            group.start_soon(feed_retries, send)
    except BaseExceptionGroup as failure:
        # One task's error (a refused key, a server that never answers) ended the run
        # and cancelled the rest: the caller gets that error, not the task group's.
        known = first_known_error(failure)
        if known is None:
            raise
        raise known from None
    finally:
        # Ended early (cancelled, failed): its jobs still running keep their slots until
        # they are due to end, so the runs sharing the slots stay within the account's cap.
        # So do the jobs POSTs cancelled on their way may have made.
        running = [(job.due, job.lent) for job in watcher.jobs.values()]
        slots.leave([*running, *((end, False) for end in submitter.cut_short)])

    governor = client.governor
    return EngineStats(
        totals=ledger.totals,
        requests=governor.requests,
        throttled=governor.model.throttled,
        jobs_created=len(submitter.known_jobs),
        polls=watcher.polls,
        reconciled=submitter.reconciled,
        cap_refusals=submitter.cap_refusals,
        final_job_cap=slots.capacity,
        # The pace it ended at: AIMD's rate, within the limit the last answers stated.
        final_rate=min(governor.model.rate, governor.model.effective_ceiling),
        ownership=resolver.stats,
    )


async def _pick_up(
    resume: ResumeState,
    ledger: Ledger,
    slots: RunSlots,
    watcher: JobWatcher,
    submitter: Submitter,
) -> list[str]:
    """Take over what an earlier run left; return the numbers that still need a job."""
    submitter.known_jobs |= resume.known_jobs  # a lost POST's job is none of these
    for value, (attempts, job_ids, errors) in resume.histories.items():
        ledger.history[value] = History(attempts, list(job_ids), errors)
    for job_id, values in resume.active_jobs:
        batch = Batch(EntryKind.of(values[0]), tuple(values))
        slots.take()  # the job holds a slot on the server whatever our cap says
        ledger.dispatched(batch)
        ledger.submitted(job_id, values)
        watcher.adopt(job_id, batch)
    now = loop_time()
    for value, attempts, job_ids, errors in resume.retry:
        ledger.history[value] = History(attempts, list(job_ids), tuple(errors))
        ledger.pool.add(value, now)
    unsent = list(resume.queued)
    if resume.posts:
        unsent += await submitter.recover_posts(resume.posts)
    return unsent


# A batch changes hands through a zero-buffer stream once a job. anyio's send() and
# receive() yield to the loop before they look for the other side; where it is already
# waiting (the reader is, nearly always, ahead of the submitters), the hand-over is done at
# once, and each side yields soon after anyway: the reader for its next chunk, the
# submitter for a job slot. Anything else (no one waiting, a stream closed or ended) is
# left to send() and receive(), so a cancelled run hears of its cancellation first, as
# it always did.


async def _send(send: MemoryObjectSendStream[Batch], batch: Batch) -> None:
    try:
        send.send_nowait(batch)  # a submitter waits for it
    except (anyio.WouldBlock, anyio.BrokenResourceError):
        await send.send(batch)


async def _receive(receive: MemoryObjectReceiveStream[Batch]) -> Batch | None:
    """The next batch; None once every sender has closed."""
    try:
        return receive.receive_nowait()  # a sender waits with it
    except (anyio.WouldBlock, anyio.EndOfStream):
        pass
    try:
        return await receive.receive()
    except anyio.EndOfStream:
        return None


async def _marking_the_last(chunks: AsyncIterable[Chunk]) -> AsyncIterator[tuple[Chunk, bool]]:
    """Each chunk, and whether it is the last: one chunk is read ahead to tell."""
    iterator = aiter(chunks)
    try:
        current = await anext(iterator)
    except StopAsyncIteration:
        return
    async for following in iterator:
        yield current, False
        current = following
    yield current, True
