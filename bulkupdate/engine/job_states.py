"""What a job's state means for its numbers, and when to look at it again. No I/O.

The API settles numbers in three lists. When a job is final, a number in
``successful_operations`` is done; one in ``failed_operations`` is retried if its errors
are transient (the server failed, not the request) and failed for good otherwise; one
still in ``pending_operations`` was never applied and is retried. A number the job does
not settle was left out by the request's filters (skipped), or, without filters, was
never applied (retried).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum, auto

from bulkupdate.api.wire import ErrorObject, Job, JobStatus, Operation
from bulkupdate.errors import RequestRefused
from bulkupdate.input.batching import Batch, EntryKind

# Per-operation and per-request codes that say "the server could not do it now".
# 10007 unexpected error, 10008 timeout, 10011 rate limited.
TRANSIENT_CODES = frozenset({"10007", "10008", "10011"})

NOT_APPLIED_ERROR: ErrorObject = {
    "code": "not_applied",
    "title": "Not applied",
    "detail": "the job ended before updating this number",
}
FILTERED_OUT: ErrorObject = {
    "code": "filtered_out",
    "title": "Skipped",
    "detail": "the number did not match the filters, so the job left it alone",
}

MIN_POLL_SECONDS = 0.2
# The last jobs of a run (retries of retries, a few numbers each) end in tens of
# milliseconds; nothing else wants the requests then, and the run ends when they do.
END_POLL_SECONDS = 0.03
MAX_POLL_SECONDS = 30.0


def is_transient(errors: Iterable[ErrorObject]) -> bool:
    """Whether a number that failed with ``errors`` may succeed if sent again.

    Any permanent error wins: a number with a field error is not retried even if a
    transient error came with it. No errors at all says nothing, so it is retried.
    """
    codes = [str(error.get("code", "")) for error in errors]
    return all(code in TRANSIENT_CODES for code in codes)


class Refusal(Enum):
    """Why the API refused a whole request (422)."""

    OWNERSHIP = auto()  # some number is not the account's
    JOB_CAP = auto()  # the account has too many active jobs; wait and send again
    INVALID = auto()  # anything else: the request itself is wrong


def classify_refusal(error: RequestRefused) -> Refusal:
    """Code 10015 covers both permanent errors and the transient job cap: read the rest."""
    for item in error.errors:
        detail = str(item.get("detail", "")).lower()
        source = item.get("source")
        pointer = source.get("pointer") if isinstance(source, dict) else None
        if "must own every number" in detail:
            return Refusal.OWNERSHIP
        if "pending or in progress jobs" in detail or (
            pointer == "/base" and "at most" in detail and "jobs" in detail
        ):
            return Refusal.JOB_CAP
    return Refusal.INVALID


@dataclass(slots=True)
class Settlement:
    """The numbers of a final job, sorted by what happens to them next."""

    succeeded: list[str] = field(default_factory=list)
    retry: list[tuple[str, tuple[ErrorObject, ...]]] = field(default_factory=list)
    failed: list[tuple[str, tuple[ErrorObject, ...]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def settle(job: Job, sent: Sequence[str], *, by_id: bool, filtered: bool = False) -> Settlement:
    """Sort the numbers ``sent`` in ``job`` (which must be final) by their fate.

    Operations are matched by the key the batch used: ids for an id batch, else numbers.
    Operations for numbers not in ``sent`` (which holds each value once, as a batch
    does) are ignored. A sent number in none of the job's lists was left out by the
    request's filters if it had any (skipped), and was never applied otherwise (retried).
    A job that completed with exactly the numbers sent as its successful operations,
    nothing failed or pending, has them all succeeded, in the order sent.
    """
    assert job.status.is_final, job
    if _completed_cleanly(job, sent, by_id):
        return Settlement(succeeded=list(sent))
    wanted = set(sent)
    seen: set[str] = set()
    result = Settlement()
    for op in job.successful:
        key = op.key(by_id)
        if key in wanted and key not in seen:
            seen.add(key)
            result.succeeded.append(key)
    for op in job.failed:
        key = op.key(by_id)
        if key in wanted and key not in seen:
            seen.add(key)
            if is_transient(op.errors):
                result.retry.append((key, op.errors))
            else:
                result.failed.append((key, op.errors))
    for op in job.pending:
        key = op.key(by_id)
        if key in wanted and key not in seen:
            seen.add(key)
            result.retry.append((key, (NOT_APPLIED_ERROR,)))
    if len(seen) < len(wanted):
        for value in sent:
            if value in seen:
                continue
            if filtered:
                result.skipped.append(value)
            else:
                result.retry.append((value, (NOT_APPLIED_ERROR,)))
    return result


def _completed_cleanly(job: Job, sent: Sequence[str], by_id: bool) -> bool:
    """The common end: the job completed, nothing failed or pending, and its successful
    operations are the numbers sent. Told from their keys alone, read in C: nothing is
    looked at number by number. Where the API lists them in the order they were sent,
    two lists compare, and none of the thousand new strings is hashed."""
    if job.status is not JobStatus.COMPLETED or job.failed or job.pending:
        return False
    done = job.successful_keys(by_id)
    if len(done) != len(sent):
        return False
    if done == (sent if isinstance(sent, list) else list(sent)):
        return True
    wanted = set(sent)
    return len(wanted) == len(sent) and set(done) == wanted


def vanished_job(job_id: str, kind: str, batch: Batch) -> Job:
    """A job the API no longer knows (404), as a failed job that applied nothing.

    Its numbers were never seen to be updated, so they all stay pending and go again.
    """
    by_id = batch.kind is EntryKind.ID
    pending = tuple(
        Operation(value, None) if by_id else Operation(None, value) for value in batch.values
    )
    return Job(job_id, kind, JobStatus.FAILED, None, None, batch.values, (), pending, ())


def first_poll_delay(
    job: Job, size: int, seconds_per_number: float | None, *, floor: float = MIN_POLL_SECONDS
) -> float:
    """Seconds after submitting ``job`` to look at it first, ``floor`` at the least.

    ``etc − created_at`` is the server's own estimate of the duration, immune to any
    offset between its clock and ours. Without it, what earlier jobs took.
    """
    if job.etc is not None and job.created_at is not None:
        estimate = (job.etc - job.created_at).total_seconds()
    elif seconds_per_number is not None:
        estimate = seconds_per_number * size
    else:
        estimate = 1.0
    return min(MAX_POLL_SECONDS, max(floor, estimate))


def next_poll_delay(job: Job, seconds_per_number: float | None, polls_so_far: int) -> float:
    """Seconds until the next look at an unfinished ``job``.

    The pending count times the learned time a number takes says how much work is left.
    Without that, back off gently so a job the server forgot does not eat the rate budget.
    """
    left = job.pending_count
    if seconds_per_number is not None and left:
        return _clamp(seconds_per_number * left)
    return _clamp(0.5 * 1.5 ** min(polls_so_far, 10))


def _clamp(seconds: float) -> float:
    return min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, seconds))
