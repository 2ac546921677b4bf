"""The account: its numbers and its jobs, advanced lazily from the clock. No HTTP here.

Nothing runs between requests. Whoever reads or needs state (a GET, a list, a POST checking
the job cap, stats) first calls :meth:`Engine.advance` with ``now``: every operation that
became due since the last call is applied, across all jobs in time order, and finished jobs
leave the active set. That keeps hundreds of concurrent jobs cheap on CPU and makes a test
with a fake clock see the same states every run.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from bulkupdate.sandbox import refusals
from bulkupdate.sandbox.bodies import MAX_NUMBERS, DeleteBody, EmergencyBody, NumberList, UpdateBody
from bulkupdate.sandbox.config import SandboxConfig
from bulkupdate.sandbox.dice import Dice
from bulkupdate.sandbox.filters import NumberFilter
from bulkupdate.sandbox.inventory import Inventory, NumberRecord
from bulkupdate.sandbox.jobs import JobStatus, JobType, Schedule, to_us
from bulkupdate.sandbox.listing import Listings
from bulkupdate.sandbox.outcomes import decide
from bulkupdate.sandbox.phone import EntryKind, classify
from bulkupdate.sandbox.queries import JobsQuery, NumbersQuery
from bulkupdate.sandbox.stats import Stats
from bulkupdate.sandbox.timefmt import iso8601_us

Body = UpdateBody | DeleteBody | EmergencyBody


@dataclass(slots=True, eq=False)
class Job:
    """A job and how far it has got.

    The plan (:class:`Schedule`) is frozen; the progress fields are not, because applying
    operations moves them forward. ``cache`` holds the serialized job until it changes.
    """

    id: str
    seq: int
    type: JobType
    body: Body
    pointer: str  # where an invalid number's in-job error points
    schedule: Schedule
    sent: list[dict[str, str]]
    targets: list[NumberRecord]
    refs: list[dict[str, str]]
    applied: int = 0
    status: JobStatus = JobStatus.PENDING
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    cache_key: tuple[JobStatus, int] | None = None
    cache: bytes = b""


class Engine:
    """Numbers, jobs and counters of one sandbox account."""

    def __init__(self, config: SandboxConfig, *, started_at: float) -> None:
        self.config = config
        self.dice = Dice(config.seed)
        self.inventory = Inventory(
            config.inventory,
            own_all=config.own_all,
            unowned=config.unowned_numbers,
            created_at=started_at,
            presets=config.number_settings,
        )
        self.reset()

    def reset(self) -> None:
        """Forget jobs and counters; numbers back to their initial settings."""
        self.inventory.reset()
        self.listings = Listings(self.inventory)
        self.stats = Stats()
        self._jobs: dict[str, Job] = {}
        self._active: list[Job] = []
        self._busy: Counter[str] = Counter()  # number → active jobs that contain it
        self._attempts: Counter[str] = Counter()  # number → application attempts so far
        self._succeeded: set[tuple[str, JobType]] = set()
        self._seq = 0

    # Creating jobs: ownership, then the job cap (the suggested order of checks).

    def create_update(
        self, body: UpdateBody, number_filter: NumberFilter | None, now: float
    ) -> Job:
        """Create an update job.

        With filters and no numbers, the job covers the owned numbers that match, up to 1000.
        With filters and numbers, every given number must be owned (or the whole request is
        refused) and the job covers those of them that match the filters; ``phone_numbers``
        still echoes every number sent.
        """
        self.advance(now)
        if number_filter is None or body.numbers.entries:
            targets = self._owned(body.numbers, now)
            sent = body.numbers.echo()
            if number_filter is not None:
                targets = [record for record in targets if number_filter.matches(record)]
        else:
            targets = self.inventory.select(number_filter.matches, include_deleted=False)
            targets = targets[:MAX_NUMBERS]
            sent = [record.reference() for record in targets]
        return self._create(JobType.UPDATE_PHONE_NUMBERS, body, body.pointer, sent, targets, now)

    def create_delete(self, body: DeleteBody, now: float) -> Job:
        self.advance(now)
        targets = self._owned(body.numbers, now)
        sent = body.numbers.echo()
        job_type = JobType.DELETE_PHONE_NUMBERS
        return self._create(job_type, body, "/phone_numbers", sent, targets, now)

    def create_emergency(self, body: EmergencyBody, now: float) -> Job:
        self.advance(now)
        targets = self._owned(body.numbers, now)
        sent = body.numbers.echo()
        job_type = JobType.UPDATE_EMERGENCY_SETTINGS
        return self._create(job_type, body, body.pointer, sent, targets, now)

    def _owned(self, numbers: NumberList, now: float) -> list[NumberRecord]:
        records = self.inventory.resolve(numbers, now)
        if records is None:
            raise refusals.not_owned()
        return records

    def _create(
        self,
        job_type: JobType,
        body: Body,
        pointer: str,
        sent: list[dict[str, str]],
        targets: list[NumberRecord],
        now: float,
    ) -> Job:
        config = self.config
        # Emergency-settings jobs have a cap of their own (500 in the spec's example).
        emergency = _is_emergency(job_type)
        cap = config.emergency_job_cap if emergency else config.job_cap
        in_pool = sum(1 for job in self._active if _is_emergency(job.type) == emergency)
        if in_pool >= cap:
            self.stats.refused_at_cap += 1
            raise refusals.job_cap_reached(cap)
        self._seq += 1
        seq = self._seq
        stall_at = None
        if targets and self.dice.chance(config.stall_rate, "stall", seq):
            stall_at = self.dice.pick(len(targets), "stall-at", seq)
            self.stats.faults["stalled_jobs"] += 1
        schedule = Schedule(
            created_us=to_us(now),
            size=len(targets),
            pending_us=to_us(config.pending_ms / 1000),
            op_us=to_us(config.op_ms * (1 + config.etc_error) / 1000),
            ttl_us=to_us(config.job_ttl),
            stall_at=stall_at,
            etc_op_us=to_us(config.op_ms / 1000) if config.etc_error else None,
        )
        job = Job(
            id=str(uuid.uuid4()),
            seq=seq,
            type=job_type,
            body=body,
            pointer=pointer,
            schedule=schedule,
            sent=sent,
            targets=targets,
            refs=[record.reference() for record in targets],
        )
        if any(self._busy[record.phone_number] for record in targets):
            self.stats.overlapping += 1
        self._busy.update(record.phone_number for record in targets)
        self._jobs[job.id] = job
        self._active.append(job)
        self.stats.jobs_created += 1
        self.stats.jobs_by_type[job_type.value] += 1
        self.stats.peak_active = max(self.stats.peak_active, len(self._active))
        self.advance(now)  # a job with no wait and no numbers is already done
        return job

    # Progress.

    def advance(self, now: float) -> None:
        """Apply every operation due by ``now``, in time order across jobs; settle statuses."""
        now_us = to_us(now)
        due: list[tuple[int, int, int, Job]] = []
        for job in self._active:
            reach = job.schedule.done_by(now_us)
            due.extend(
                (job.schedule.op_time(i), job.seq, i, job) for i in range(job.applied, reach)
            )
        due.sort(key=lambda item: item[:3])
        for at, _, index, job in due:
            self._apply(job, index, at / 1_000_000)
            job.applied = index + 1
        finished = False
        for job in self._active:
            status = job.schedule.status_at(now_us, all_failed=not job.successful)
            if status is job.status:
                continue
            job.status = status
            if status.final:
                finished = True
                self.stats.jobs_final[status.value] += 1
                self._release(job)
        if finished:
            self._active = [job for job in self._active if job.status.active]

    def _release(self, job: Job) -> None:
        """Forget that a finished job holds its numbers (in O(its size), not O(all held))."""
        busy = self._busy
        for record in job.targets:
            left = busy[record.phone_number] - 1
            if left:
                busy[record.phone_number] = left
            else:
                del busy[record.phone_number]

    def _apply(self, job: Job, index: int, at: float) -> None:
        record = job.targets[index]
        self._attempts[record.phone_number] += 1
        outcome = decide(
            record.phone_number,
            self._attempts[record.phone_number],
            owned=record.owned,
            locked_delete=job.type is JobType.DELETE_PHONE_NUMBERS and record.deletion_lock_enabled,
            config=self.config,
            dice=self.dice,
        )
        error = outcome.error(job.pointer)
        if error is not None:
            job.failed.append({**job.refs[index], "errors": [error]})
            self.stats.failed_operations += 1
            self.stats.faults[f"{outcome.value}_failures"] += 1
            return
        body = job.body
        if isinstance(body, UpdateBody):
            record.apply_update(body.fields, body.voice, at)
        elif isinstance(body, EmergencyBody):
            record.apply_emergency(body.enabled, body.address_id, at)
        else:
            record.apply_delete(at)
            self.inventory.left()
        self.inventory.changed(record)
        job.successful.append(job.refs[index])
        self.stats.applied += 1
        key = (record.phone_number, job.type)
        if key in self._succeeded:
            self.stats.reapplied_after_success += 1
        self._succeeded.add(key)

    # Reading.

    @property
    def active_jobs(self) -> int:
        return len(self._active)

    def job(self, job_id: str, now: float) -> Job:
        self.advance(now)
        job = self._jobs.get(job_id)
        if job is None:
            raise refusals.not_found()
        return job

    def jobs(self, now: float) -> list[Job]:
        """Every job since the last reset, oldest first."""
        self.advance(now)
        return list(self._jobs.values())

    def job_json(self, job: Job, now: float) -> bytes:
        """The serialized job object as of ``now``."""
        self.advance(now)
        return self._render(job, now)

    def _render(self, job: Job, now: float) -> bytes:
        """The serialized job, rebuilt only when its status or progress changed.

        Call after :meth:`advance`: ``etc`` and ``updated_at`` follow from the status and
        the progress, which together form the cache key.
        """
        key = (job.status, job.applied)
        if job.cache_key != key:
            schedule, now_us = job.schedule, to_us(now)
            job.cache = orjson.dumps(
                {
                    "id": job.id,
                    "record_type": "phone_numbers_job",
                    "status": job.status.value,
                    "type": job.type.value,
                    "etc": iso8601_us(schedule.etc(now_us)),
                    "created_at": iso8601_us(schedule.created_us),
                    "updated_at": iso8601_us(schedule.updated_at(now_us)),
                    "phone_numbers": job.sent,
                    "successful_operations": job.successful,
                    "pending_operations": job.refs[job.applied :],
                    "failed_operations": job.failed,
                }
            )
            job.cache_key = key
        return job.cache

    def jobs_page(self, query: JobsQuery, now: float) -> bytes:
        """``GET /phone_numbers/jobs``: newest first, one page, with meta."""
        self.advance(now)
        chosen = [
            job
            for job in reversed(self._jobs.values())
            if query.type is None or job.type is query.type
        ]
        page = chosen[query.page.slice()]
        data = b",".join(self._render(job, now) for job in page)
        meta = orjson.dumps(query.page.meta(len(chosen)))
        return b'{"data":[' + data + b'],"meta":' + meta + b"}"

    def numbers_page(self, query: NumbersQuery, now: float) -> bytes:
        """``GET /phone_numbers``: deleted numbers only when ``filter[status]=deleted``.

        The page is cut from the numbers that match as they are now, after every operation
        due by ``now`` (``listing.py`` keeps the selection between pages).
        """
        self.advance(now)
        chosen = self.listings.ordered(query.filter, query.sort)
        page = chosen[query.page.slice()]
        return orjson.dumps(
            {"data": [record.detailed() for record in page], "meta": query.page.meta(len(chosen))}
        )

    def number(self, number_id: str, now: float) -> NumberRecord:
        """A number by id (``GET /phone_numbers/{id}``); deleted ones show status deleted."""
        self.advance(now)
        record = self.inventory.find(number_id) if classify(number_id) is EntryKind.ID else None
        if record is None:
            raise refusals.not_found()
        return record

    def stats_dict(self, now: float, *, rate: dict[str, Any]) -> dict[str, Any]:
        """The counters; ``rate`` is the limiter's part, kept by the HTTP front."""
        self.advance(now)
        stats = self.stats.as_dict(active=len(self._active), rate=rate)
        stats["numbers"]["known"] = len(self.inventory)
        stats["numbers"]["distinct_applied"] = len(self._succeeded)  # (number, job type) pairs
        return stats

    def __repr__(self) -> str:
        return f"Engine(jobs={len(self._jobs)}, active={len(self._active)}, {self.inventory!r})"


def _is_emergency(job_type: JobType) -> bool:
    return job_type is JobType.UPDATE_EMERGENCY_SETTINGS
