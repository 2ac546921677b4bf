"""What travels on the wire: API JSON into typed values, error answers into exceptions.

Pure: no network, no event loop. ``client.py`` feeds it status codes, headers and bodies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
import orjson

from bulkupdate.api import job_lists
from bulkupdate.api.job_lists import NO_LIST
from bulkupdate.api.job_lists import ErrorObject as ErrorObject
from bulkupdate.api.job_lists import Operation as Operation
from bulkupdate.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimited,
    RequestRefused,
    ServerError,
)


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED})

Body = bytes | memoryview  # an answer's body (a large one comes as a view, see client.py)


class Job:
    """A phone-numbers job as the API reports it.

    An answer is read as far as a decision needs: its id, type, status and times at
    once; its four lists of numbers stay the answer's JSON until first asked for (see
    ``job_lists``), then are decoded once. Most answers need none of them, and a job
    that completed cleanly needs only the keys of its successful operations
    (``successful_keys``). Jobs compare equal however much of them was read.
    """

    __slots__ = (
        "_failed",
        "_pending",
        "_phone_numbers",
        "_successful",
        "created_at",
        "etc",
        "id",
        "status",
        "type",
    )

    def __init__(
        self,
        id: str,
        type: str,
        status: JobStatus,
        etc: datetime | None,
        created_at: datetime | None,
        phone_numbers: tuple[str, ...] = (),
        successful: tuple[Operation, ...] = (),
        pending: tuple[Operation, ...] = (),
        failed: tuple[Operation, ...] = (),
    ) -> None:
        self.id = id
        self.type = type
        self.status = status
        self.etc = etc
        self.created_at = created_at
        self._phone_numbers: tuple[str, ...] | msgspec.Raw = phone_numbers
        self._successful: tuple[Operation, ...] | msgspec.Raw = successful
        self._pending: tuple[Operation, ...] | msgspec.Raw = pending
        self._failed: tuple[Operation, ...] | msgspec.Raw = failed

    @classmethod
    def _unread(cls, data: _JobObject) -> Job:
        """The job in a decoded answer, its lists left as they came."""
        if not data.id:
            raise ValueError("job object without an id")
        job = cls(
            data.id, data.type, data.status, parse_time(data.etc), parse_time(data.created_at)
        )
        job._phone_numbers = data.phone_numbers
        job._successful = data.successful_operations
        job._pending = data.pending_operations
        job._failed = data.failed_operations
        return job

    @property
    def phone_numbers(self) -> tuple[str, ...]:
        """What the job was asked to update, each number or id as it was sent."""
        found = self._phone_numbers
        if isinstance(found, msgspec.Raw):
            found = self._phone_numbers = job_lists.sent_numbers(found)
        return found

    @property
    def successful(self) -> tuple[Operation, ...]:
        return self._operations("_successful")

    @property
    def pending(self) -> tuple[Operation, ...]:
        return self._operations("_pending")

    @property
    def failed(self) -> tuple[Operation, ...]:
        return self._operations("_failed")

    def _operations(self, slot: str) -> tuple[Operation, ...]:
        found: tuple[Operation, ...] | msgspec.Raw = getattr(self, slot)
        if isinstance(found, msgspec.Raw):
            found = job_lists.operations(found)
            setattr(self, slot, found)  # read once
        return found

    @property
    def pending_count(self) -> int:
        """How many operations are pending, none of them read."""
        return _count(self._pending)

    def successful_keys(self, by_id: bool) -> list[str | None]:
        """The key (``Operation.key``) of every successful operation, in the answer's
        order: all that settling a job that completed cleanly needs (``job_lists.keys``)."""
        found = self._successful
        if isinstance(found, msgspec.Raw):
            return job_lists.keys(found, by_id=by_id)
        return [op.key(by_id) for op in found]

    def _fields(self) -> tuple[object, ...]:
        return (
            self.id,
            self.type,
            self.status,
            self.etc,
            self.created_at,
            self.phone_numbers,
            self.successful,
            self.pending,
            self.failed,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return (
            f"<Job {self.id} {self.type} {self.status.value} ok={_count(self._successful)} "
            f"pending={_count(self._pending)} failed={_count(self._failed)}>"
        )


@dataclass(frozen=True, slots=True)
class JobsPage:
    """A page of the jobs list, newest first; items that are not readable jobs are left
    out (a job of ours among them is fetched by id)."""

    jobs: tuple[Job, ...]
    page_number: int
    total_pages: int
    total_results: int


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a list answer and what its ``meta`` says about the rest."""

    items: tuple[Any, ...]
    page_number: int
    total_pages: int
    total_results: int


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """The ``x-ratelimit-*`` headers of one answer; any may be missing."""

    limit: int | None
    remaining: int | None
    reset: float | None  # seconds until the window resets
    retry_after: float | None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def job_from_json(data: Mapping[str, Any]) -> Job:
    """A ``Job`` from the API's job object; raises ``ValueError`` if it is not one."""
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("job object without an id")
    try:
        status = JobStatus(data.get("status", "pending"))
    except ValueError as exc:
        raise ValueError(f"job {job_id} has an unknown status {data.get('status')!r}") from exc
    return Job(
        id=job_id,
        type=str(data.get("type", "")),
        status=status,
        etc=parse_time(data.get("etc")),
        created_at=parse_time(data.get("created_at")),
        phone_numbers=job_lists.numbers_from_json(data.get("phone_numbers")),
        successful=job_lists.operations_from_json(data.get("successful_operations")),
        pending=job_lists.operations_from_json(data.get("pending_operations")),
        failed=job_lists.operations_from_json(data.get("failed_operations")),
    )


# -- the fast way in: typed values decoded by msgspec, in C ----------------------------
# Fields no decision needs are skipped without building an object, and a job's lists are
# kept as raw JSON until asked for (see ``Job``). An answer that does not fit these types
# exactly goes the lenient way, as a whole (``job_from_json``) or list by list.


class _JobObject(msgspec.Struct, gc=False):
    id: str
    type: str = ""
    status: JobStatus = JobStatus.PENDING
    etc: str | None = None
    created_at: str | None = None
    phone_numbers: msgspec.Raw = NO_LIST
    successful_operations: msgspec.Raw = NO_LIST
    pending_operations: msgspec.Raw = NO_LIST
    failed_operations: msgspec.Raw = NO_LIST


class _JobAnswer(msgspec.Struct, gc=False):
    data: _JobObject


class _Meta(msgspec.Struct, gc=False):
    page_number: int = 1
    total_pages: int = 1
    total_results: int = 0


class _ListAnswer(msgspec.Struct, gc=False):
    data: list[_JobObject]
    meta: _Meta | None = None


class _RawListAnswer(msgspec.Struct, gc=False):
    data: list[msgspec.Raw]
    meta: _Meta | None = None


_JOB_ANSWER = msgspec.json.Decoder(_JobAnswer)
_JOB_OBJECT = msgspec.json.Decoder(_JobObject)
_LIST_ANSWER = msgspec.json.Decoder(_ListAnswer)
_RAW_LIST_ANSWER = msgspec.json.Decoder(_RawListAnswer)


def _count(found: tuple[Operation, ...] | msgspec.Raw) -> int:
    return job_lists.count(found) if isinstance(found, msgspec.Raw) else len(found)


def decode_job(body: Body) -> Job:
    """The job in a ``{"data": Job}`` answer."""
    try:
        return Job._unread(_JOB_ANSWER.decode(body).data)
    except msgspec.DecodeError:
        pass  # not this exact shape: read it leniently, or say what is wrong
    document = _load_object(body)
    data = document.get("data")
    if not isinstance(data, dict):
        raise ValueError("answer has no job in 'data'")
    return job_from_json(data)


def decode_jobs_page(body: Body) -> JobsPage:
    """A page of ``GET /phone_numbers/jobs``."""
    try:
        answer = _LIST_ANSWER.decode(body)
        jobs = tuple(Job._unread(data) for data in answer.data)
        meta = answer.meta or _Meta(total_results=len(answer.data))
        return JobsPage(jobs, meta.page_number, meta.total_pages, meta.total_results)
    except (msgspec.DecodeError, ValueError):
        pass  # an item that is not a job of this exact shape: one by one
    try:
        items = _RAW_LIST_ANSWER.decode(body)
    except msgspec.DecodeError:
        page = decode_page(body)  # raises what is wrong with it
        jobs = tuple(job for item in page.items if (job := _lenient_job(item)) is not None)
        return JobsPage(jobs, page.page_number, page.total_pages, page.total_results)
    jobs = tuple(job for raw in items.data if (job := _job_item(raw)) is not None)
    meta = items.meta or _Meta(total_results=len(items.data))
    return JobsPage(jobs, meta.page_number, meta.total_pages, meta.total_results)


def _job_item(raw: msgspec.Raw) -> Job | None:
    try:
        return Job._unread(_JOB_OBJECT.decode(raw))
    except (msgspec.DecodeError, ValueError):
        try:
            return _lenient_job(orjson.loads(memoryview(raw)))
        except orjson.JSONDecodeError:
            return None


def _lenient_job(item: object) -> Job | None:
    if not isinstance(item, dict):
        return None
    try:
        return job_from_json(item)
    except ValueError:
        return None


def decode_page(body: Body) -> Page:
    """A list answer: ``{"data": [...], "meta": {...}}``; items stay as JSON objects."""
    document = _load_object(body)
    data = document.get("data")
    if not isinstance(data, list):
        raise ValueError("list answer has no list in 'data'")
    meta = document.get("meta") if isinstance(document.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    return Page(
        items=tuple(data),
        page_number=_int(meta.get("page_number"), 1),
        total_pages=_int(meta.get("total_pages"), 1),
        total_results=_int(meta.get("total_results"), len(data)),
    )


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _load_object(body: Body) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"answer is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError("answer is not a JSON object")
    return document


def error_objects(body: Body) -> list[ErrorObject]:
    """The ``errors`` of an error answer; a stand-in object when the body has none."""
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        document = None
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list):
        found = [e for e in errors if isinstance(e, dict)]
        if found:
            return found
    text = bytes(body[:200]).decode("utf-8", "replace").strip() if body else ""
    return [{"code": "", "title": "Error answer without error objects", "detail": text}]


def error_for(status: int, body: Body, rate: RateHeaders) -> ApiError:
    """The exception for an error answer: the one place statuses map to classes."""
    errors = error_objects(body)
    if status in (401, 403):
        return AuthError(status, errors)
    if status == 404:
        return NotFoundError(status, errors)
    if status == 429:
        return RateLimited(status, errors, retry_after=rate.retry_after)
    if status == 408 or status >= 500:
        return ServerError(status, errors, retry_after=rate.retry_after)
    if status == 422:
        return RequestRefused(status, errors)
    return ApiError(status, errors)


def rate_headers(headers: Mapping[str, str]) -> RateHeaders:
    """Read ``x-ratelimit-*`` and ``Retry-After``; unreadable values count as missing."""
    return RateHeaders(
        limit=_header_int(headers.get("x-ratelimit-limit")),
        remaining=_header_int(headers.get("x-ratelimit-remaining")),
        reset=_header_seconds(headers.get("x-ratelimit-reset")),
        retry_after=_header_seconds(headers.get("retry-after")),
    )


def _header_int(value: str | None) -> int | None:
    seconds = _header_seconds(value)
    return None if seconds is None else int(seconds)


def _header_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None  # an HTTP date in Retry-After is rare enough to ignore
    if not math.isfinite(number) or number < 0:
        return None
    return number
