"""A job's life as a pure function of time: no I/O, no tasks, no sleeps.

::

    pending ──(pending_us)──▶ in_progress ──(size × op_us)──▶ completed | failed
       │                           │
       └──────────(ttl_us after creation, not finished)──────▶ expired

Operation ``i`` finishes at ``started_at + (i + 1) × op_us``, so how far a job has got is
``(now − started_at) // op_us``. Nothing runs in the background: whoever needs a job's
state asks :meth:`Schedule.done_by` and :meth:`Schedule.status_at` for ``now`` and applies
the operations that became due. A stalled job stops at operation ``stall_at`` and, like any
job still unfinished ``ttl_us`` after creation, expires with its remaining numbers pending.
A finished job is ``failed`` when every one of its operations failed, else ``completed``
(its failures listed in ``failed_operations``); the spec leaves this undocumented.

Times are whole microseconds: epoch seconds as floats lose the sub-microsecond precision
that ``5 ms`` steps need, and a job must never show "completed" with one operation pending.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobType(enum.StrEnum):
    UPDATE_PHONE_NUMBERS = "update_phone_numbers"
    DELETE_PHONE_NUMBERS = "delete_phone_numbers"
    UPDATE_EMERGENCY_SETTINGS = "update_emergency_settings"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED)

    @property
    def active(self) -> bool:
        return not self.final


def to_us(seconds: float) -> int:
    """Clock seconds as whole microseconds."""
    return round(seconds * 1_000_000)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When each of a job's ``size`` operations happens; all times in microseconds.

    >>> s = Schedule(created_us=0, size=4, pending_us=1_000, op_us=500, ttl_us=900_000_000)
    >>> s.done_by(2_000), s.status_at(2_000), s.done_by(3_000), s.status_at(3_000)
    (2, <JobStatus.IN_PROGRESS: 'in_progress'>, 4, <JobStatus.COMPLETED: 'completed'>)
    """

    created_us: int
    size: int
    pending_us: int
    op_us: int
    ttl_us: int
    stall_at: int | None = None  # index of the operation the job never gets past
    etc_op_us: int | None = None  # the time per operation ``etc`` is figured with (op_us)

    @property
    def started_us(self) -> int:
        return self.created_us + self.pending_us

    @property
    def expires_us(self) -> int:
        return self.created_us + self.ttl_us

    @property
    def planned_end_us(self) -> int:
        """When the job would finish if nothing went wrong: the honest ``etc``."""
        return self.started_us + self.size * self.op_us

    @property
    def finishes(self) -> bool:
        """Whether the job completes, rather than expiring."""
        return self.stall_at is None and self.planned_end_us <= self.expires_us

    @property
    def ends_us(self) -> int:
        """When the job reaches its final status."""
        return self.planned_end_us if self.finishes else self.expires_us

    def op_time(self, index: int) -> int:
        return self.started_us + (index + 1) * self.op_us

    def done_by(self, now: int) -> int:
        """How many operations have finished by ``now`` (they finish in order)."""
        moment = min(now, self.ends_us)
        limit = self.size if self.stall_at is None else self.stall_at
        if moment < self.started_us:
            return 0
        if self.op_us <= 0:
            return limit
        return min(limit, (moment - self.started_us) // self.op_us)

    def status_at(self, now: int, *, all_failed: bool = False) -> JobStatus:
        """The status at ``now``; ``all_failed`` turns a finished job into ``failed``."""
        if now >= self.ends_us:
            if not self.finishes:
                return JobStatus.EXPIRED
            return JobStatus.FAILED if all_failed and self.size else JobStatus.COMPLETED
        if now < self.started_us:
            return JobStatus.PENDING
        return JobStatus.IN_PROGRESS

    def etc(self, now: int) -> int:
        """Estimated completion: the estimate while running, the real end once final.

        The estimate is the plan, unless ``etc_op_us`` says the server figures it with a
        time per operation other than the real one (an estimate that is too hopeful).
        """
        if now >= self.ends_us:
            return self.ends_us
        if self.etc_op_us is None:
            return self.planned_end_us
        return max(now, self.started_us + self.size * self.etc_op_us)

    def updated_at(self, now: int) -> int:
        """The time of the job's last visible change at or before ``now``."""
        if now >= self.ends_us:
            return self.ends_us
        done = self.done_by(now)
        if done:
            return self.op_time(done - 1)
        return self.started_us if now >= self.started_us else self.created_us
