"""Submit one batch: a job slot, the request, and whatever the answer asks for next.

A submitter owns its batch until every number in it is in a job or failed:

* job cap reached (other jobs on the account): lower the cap, wait for a slot, again;
* ownership refusal: screen by inventory or bisect (see ``ownership.py``);
* any other refusal: the numbers fail with the API's errors;
* no answer, or a 5xx after the server may have acted: look for the job in the jobs
  list before sending again, so that a lost answer never becomes a duplicate job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import anyio

from bulkupdate.api.backoff import BackoffPolicy, compute_backoff
from bulkupdate.api.client import ApiClient
from bulkupdate.api.loop_clock import loop_time
from bulkupdate.api.wire import Job
from bulkupdate.budget.slots import RunSlots
from bulkupdate.engine.job_states import Refusal, classify_refusal
from bulkupdate.engine.ledger import Ledger
from bulkupdate.engine.ownership import OwnershipResolver, Verdict
from bulkupdate.engine.tail_sizes import tail_share
from bulkupdate.engine.waiting_room import WaitingRoom
from bulkupdate.engine.watcher import JobWatcher
from bulkupdate.errors import ApiError, RequestRefused, ServerError, TransportError
from bulkupdate.input.batching import Batch, EntryKind
from bulkupdate.request.spec import JobRequest

RECONCILE_PAGE_SIZE = 50
RECONCILE_PAGES = 40  # 2000 jobs back: more is a server in trouble, not a lost answer
RECONCILE_PAUSE = 2.0  # seconds before looking again after a timeout
UNREACHABLE_ATTEMPTS = 6  # POSTs that could not connect before the run gives up
RESEND_BACKOFF = BackoffPolicy(base=0.5, cap=30.0)
UNKNOWN_JOB_LENGTH = 60.0  # seconds a job is taken to run before any estimate is seen
CLOCK_SKEW = timedelta(minutes=2)  # how far the server's clock may be from ours


class Submitter:
    """Turns batches into jobs; shared by the pipeline's submitter tasks."""

    def __init__(
        self,
        client: ApiClient,
        request: JobRequest,
        ledger: Ledger,
        slots: RunSlots,
        watcher: JobWatcher,
        resolver: OwnershipResolver,
        *,
        backoff: BackoffPolicy = RESEND_BACKOFF,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = loop_time,
    ) -> None:
        self.client = client
        self.request = request
        self.ledger = ledger
        self.slots = slots
        self.watcher = watcher
        self.resolver = resolver
        self.backoff = backoff
        self._wall_clock = wall_clock
        self._clock = clock
        self._params = request.query_params()
        self.known_jobs: set[str] = set()
        self.reconciled = 0
        self.cap_refusals = 0
        # When the jobs of POSTs cancelled on their way would end, had the server made
        # them: their slots stay held until then (``RunSlots.leave``).
        self.cut_short: list[float] = []
        self._slowest_answer = 0.0  # seconds: the longest a POST's answer has taken

    def __repr__(self) -> str:
        return f"<Submitter {self.request.kind.value} jobs={len(self.known_jobs)} {self.slots!r}>"

    async def handle(self, batch: Batch) -> None:
        """Get every number of ``batch`` into a job, or failed with a reason."""
        self.resolver.seen_batch()
        if self.resolver.screening:
            await self._send_screened(batch.kind, batch.values)
            return
        if self.resolver.loading and self.resolver.room is not None:
            await self._send_listed_so_far(batch.kind, batch.values, self.resolver.room)
            return
        await self._acquire_slot(len(batch))
        try:
            values = self._share_of_the_tail(batch.values)
        except BaseException:
            self.slots.release()
            raise
        refusal = await self._submit(batch.kind, values, slot_held=True)
        if refusal is None:
            return
        if classify_refusal(refusal) is not Refusal.OWNERSHIP:
            self._fail_all(values, refusal)
            return
        resolver = self.resolver
        resolver.refused(refusal.errors)
        try:
            if not await resolver.consider_inventory():
                await self._bisect(batch.kind, values)
            elif resolver.loading and resolver.room is not None:
                # Another submitter is reading the inventory: no need to wait for it all.
                await self._send_listed_so_far(batch.kind, values, resolver.room)
            elif await resolver.load_inventory():
                await self._send_screened(batch.kind, values)
            else:
                await self._bisect(batch.kind, values)
        finally:
            resolver.resolved()

    async def _acquire_slot(self, numbers: int) -> None:
        self.ledger.waiting_for_slot += numbers
        try:
            await self.slots.acquire()
        finally:
            self.ledger.waiting_for_slot -= numbers

    def _share_of_the_tail(self, values: Sequence[str]) -> Sequence[str]:
        """Once the input is read, what a job starting now should carry (see ``tail_sizes.py``):
        part of ``values``, the rest going back to the pool for the other job slots; or
        ``values`` topped up with numbers ready to go again."""
        ledger = self.ledger
        if not ledger.input_read:
            return values
        now = self._clock()
        free_now = max(0, self.slots.capacity - self.slots.held)
        running = [job.due for job in self.watcher.jobs.values() if not job.lent]
        share = tail_share(
            len(values) + ledger.waiting_for_slot + ledger.reader_holding + len(ledger.pool),
            now,
            [now] * free_now + running,
            seconds_per_number=self.watcher.seconds_per_number,
            rate=self.client.governor.share,
            max_batch=ledger.pool.batch_size,
        )
        if share < len(values):
            ledger.give_back(values[share:])
            return values[:share]
        if share > len(values):
            return [*values, *ledger.top_up(EntryKind.of(values[0]), share - len(values))]
        return values

    async def _send_listed_so_far(
        self, kind: EntryKind, values: Sequence[str], room: WaitingRoom
    ) -> None:
        """While the inventory loads: send what the pages read so far list, if that is
        worth a job (else it joins the next batch), and leave the rest in the room."""
        listed, unlisted = self.resolver.screen(values, so_far=True)
        if len(listed) >= self.ledger.pool.batch_size // 2:
            await self._send_owned(kind, listed)
        elif listed:
            self.ledger.give_back(listed)
        if unlisted:
            inventory = self.resolver.inventory
            await room.enter(unlisted, inventory.owns if inventory is not None else bool)

    async def _send_owned(self, kind: EntryKind, values: Sequence[str]) -> None:
        """Send numbers the inventory lists, as much of them as the tail allows."""
        await self._acquire_slot(len(values))
        try:
            # A top-up from the pool may bring numbers the inventory does not list (or
            # has not listed yet): those go round again, to be settled by their verdict.
            values, unlisted = self.resolver.screen(self._share_of_the_tail(values), so_far=True)
            if unlisted:
                self.ledger.give_back(unlisted)
        except BaseException:
            self.slots.release()
            raise
        if not values:
            self.slots.release()
            return
        refusal = await self._submit(kind, values, slot_held=True)
        if refusal is None:
            return
        if classify_refusal(refusal) is not Refusal.OWNERSHIP:
            self._fail_all(values, refusal)
        else:  # the API refuses a number the inventory lists
            self.resolver.doubt()
            await self._bisect(kind, values)

    async def _send_screened(self, kind: EntryKind, values: Sequence[str]) -> None:
        """Send what the inventory lists; settle what it does not by its ``Verdict``."""
        owned, unlisted = self.resolver.screen(values)
        if owned:
            await self._send_owned(kind, owned)
        if self.resolver.verdict is Verdict.UNTESTED:
            unlisted = await self._calibrate(kind, unlisted)
        if not unlisted:
            return
        refusal = await self._submit(kind, unlisted)
        self.resolver.stats.inventory_checks += 1
        # Read the verdict now: another submitter may have doubted the inventory while
        # this one waited for its slot and its turn.
        if refusal is None:
            self.resolver.doubt()  # owned after all: the inventory missed them
        elif classify_refusal(refusal) is not Refusal.OWNERSHIP:
            self._fail_all(unlisted, refusal)
        elif self.resolver.verdict is Verdict.TRUSTED or len(unlisted) == 1:
            self.resolver.stats.unowned += len(unlisted)
            self._fail_all(unlisted, refusal)
        else:
            await self._bisect(kind, unlisted)

    async def _calibrate(self, kind: EntryKind, unlisted: Sequence[str]) -> list[str]:
        """Send unlisted numbers alone until the verdict is in; return the rest."""
        rest = list(unlisted)
        while rest and self.resolver.verdict is Verdict.UNTESTED:
            value = rest.pop(0)
            refusal = await self._submit(kind, [value])
            self.resolver.stats.inventory_checks += 1
            if refusal is None:
                self.resolver.calibrated(accepted=True)
            elif classify_refusal(refusal) is Refusal.OWNERSHIP:
                self.resolver.calibrated(accepted=False)
                self.resolver.stats.unowned += 1
                self.ledger.refused([value], refusal.errors)
            else:
                self.ledger.refused([value], refusal.errors)
        return rest

    async def _bisect(self, kind: EntryKind, refused: Sequence[str]) -> None:
        """Find the unowned numbers of a refused batch by adaptive binary splitting.

        Each part on the stack is known to hold a culprit. Send its first half: if that
        is accepted, the culprit is in the second half, which is split without being
        sent; if it is refused, the second half is unknown and is sent too.
        """
        stack = [refused]
        while stack:
            part = stack.pop()
            if len(part) == 1:
                self.resolver.stats.unowned += 1
                self.ledger.refused([part[0]], (self.resolver.error,))
                continue
            middle = len(part) // 2
            first, second = part[:middle], part[middle:]
            if await self._try_part(kind, first, stack):
                stack.append(second)
            else:
                await self._try_part(kind, second, stack)

    async def _try_part(
        self, kind: EntryKind, part: Sequence[str], stack: list[Sequence[str]]
    ) -> bool:
        """Send one part during bisection; True if it was accepted."""
        refusal = await self._submit(kind, part)
        self.resolver.stats.bisect_requests += 1
        if refusal is None:
            return True
        if classify_refusal(refusal) is Refusal.OWNERSHIP:
            stack.append(part)
        else:
            self._fail_all(part, refusal)
        return False

    def _fail_all(self, values: Sequence[str], refusal: ApiError) -> None:
        self.ledger.refused(values, refusal.errors)

    async def _submit(
        self, kind: EntryKind, values: Sequence[str], *, slot_held: bool = False
    ) -> RequestRefused | None:
        """Create a job for ``values`` and hand it to the watcher; or return the refusal.

        Only a 422 is a refusal of these numbers. Anything else the API answers that is
        not transient (a 429 that never ends, a 404 for the endpoint, a 400) says the run
        itself is wrong, and stops it: no number fails for it. ``slot_held``: the caller
        has acquired the job slot; it is released here unless a job takes it.
        """
        holding, handed_over = slot_held, False
        if not holding:
            await self.slots.acquire()
            holding = True
        try:
            body = self.request.encode_body(values)
            recorder = self.ledger.recorder
            kind_name = self.request.kind.value
            failures = 0
            while True:
                sent_at = self._wall_clock()
                # Written before the request goes: if the answer is lost, or this process
                # is, a resumed run looks for the job before sending these numbers again.
                post = recorder.posting(kind_name, values, sent_at.isoformat())
                posted_at = self._clock()
                try:
                    job = await self.client.create_job(self.request.kind, body, self._params)
                    answer_took = self._clock() - posted_at
                    self._slowest_answer = max(self._slowest_answer, answer_took)
                except anyio.get_cancelled_exc_class():
                    # The run was cancelled with this POST on its way: the server may have
                    # made the job, which holds one of the account's slots until it ends,
                    # or may make it yet, as late as an answer has taken to come.
                    ends = self._clock() + self._slowest_answer + self._job_length(len(values))
                    self.cut_short.append(ends)
                    holding = False  # held on for that job, not released
                    raise
                except RequestRefused as exc:
                    self._forget(post)
                    if classify_refusal(exc) is not Refusal.JOB_CAP:
                        return exc
                    # A job lent a slot on its estimate has not ended; or the account
                    # holds jobs of other clients: then hold fewer, and probe for more
                    # later. Either way, wait for a slot; no slot is held while waiting.
                    self.cap_refusals += 1
                    if not self.watcher.estimate_refused(posted_at):
                        self.slots.refused()
                    holding = False
                    self.slots.release()
                    self.watcher.nudge()
                    await self.slots.acquire()
                    holding = True
                    continue
                except (ServerError, TransportError) as exc:
                    failures += 1
                    # A POST that never reached the server created nothing to look for.
                    unsent = isinstance(exc, TransportError) and not exc.sent
                    if unsent and failures >= UNREACHABLE_ATTEMPTS:
                        self._forget(post)
                        raise
                    found = None if unsent else await self._reconcile(values, sent_at, exc)
                    if found is None:
                        self._forget(post)
                        await anyio.sleep(compute_backoff(failures, self.backoff))
                        continue
                    job = found
                except ApiError:
                    self._forget(post)
                    raise
                # The job has the slot now: the watcher releases it when the job ends,
                # which may be at once (a job already final), and may fail the run there.
                # (If recording the job fails first, the run's end frees the slot.)
                handed_over = True
                self._adopt(job, values, post, posted_at=posted_at)
                return None
        finally:
            if holding and not handed_over:
                self.slots.release()

    def _job_length(self, size: int) -> float:
        """About how long a job of ``size`` numbers runs, from the estimates seen so far."""
        per_number = self.watcher.seconds_per_number
        return UNKNOWN_JOB_LENGTH if per_number is None else per_number * size

    def _adopt(
        self, job: Job, values: Sequence[str], post: int | None, *, posted_at: float | None = None
    ) -> None:
        """A job exists for ``values`` (its slot already held since ``posted_at``, if
        known): record, book and watch it."""
        self.ledger.recorder.posted(post, job.id, self.request.kind.value, values)
        self.known_jobs.add(job.id)
        batch = Batch(EntryKind.of(values[0]), tuple(values))
        self.ledger.submitted(job.id, values)
        self.watcher.track(job, batch, posted_at=posted_at)

    async def recover_posts(self, posts: Sequence[tuple[int, str, Sequence[str]]]) -> list[str]:
        """Settle the POSTs an earlier run sent without seeing the answer.

        Each whose job is in the jobs list is adopted and watched; the numbers of the
        others were never in a job and are returned, to be sent again.
        """
        unsent: list[str] = []
        for post, sent_at, values in posts:
            job = await self._reconcile(values, datetime.fromisoformat(sent_at), None)
            if job is None:
                self.ledger.recorder.post_done(post)
                unsent.extend(values)
                continue
            self.slots.take()
            self.ledger.dispatched(Batch(EntryKind.of(values[0]), tuple(values)))
            self._adopt(job, values, post)
        return unsent

    def _forget(self, post: int | None) -> None:
        if post is not None:
            self.ledger.recorder.post_done(post)

    async def _reconcile(
        self, values: Sequence[str], sent_at: datetime, cause: Exception | None
    ) -> Job | None:
        """The job a POST with no usable answer created, if it created one.

        Reads the jobs list, newest first and page by page, back to just before the POST,
        for a job of the same kind that this run does not know and that holds exactly
        these numbers. After a timeout or a dropped connection the server may still be
        creating the job, so it looks a second time after a pause. None means the POST
        did nothing and the numbers may be sent again.
        """
        wanted = set(values)
        looks = 2 if isinstance(cause, TransportError) else 1
        for look in range(looks):
            if look:
                await anyio.sleep(RECONCILE_PAUSE)
            job = await self._find_job(wanted, sent_at - CLOCK_SKEW, cause)
            if job is not None:
                self.reconciled += 1
                return job
        return None

    async def _find_job(
        self, wanted: set[str], since: datetime, cause: Exception | None
    ) -> Job | None:
        for page_number in range(1, RECONCILE_PAGES + 1):
            page = await self.client.list_jobs(
                self.request.kind, page_size=RECONCILE_PAGE_SIZE, page_number=page_number
            )
            for job in page.jobs:  # (another client's odd, unreadable job is left out)
                if job.id in self.known_jobs:
                    continue
                if job.created_at is not None and job.created_at < since:
                    return None  # older than the POST: it made no job
                numbers = set(job.phone_numbers)
                if numbers == wanted or (self._params and numbers and numbers <= wanted):
                    return job
            if page_number >= page.total_pages:
                return None
        raise TransportError(
            "cannot tell whether a job was created after "
            f"{cause or 'a lost answer'}: the jobs list is too long to search back to it; "
            "resume the run to look again"
        )
