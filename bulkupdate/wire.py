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

from bulkupdate.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimited,
    RequestRefused,
    ServerError,
)

ErrorObject = dict[str, Any]


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


class Operation(msgspec.Struct, frozen=True, gc=False):
    """One number's entry in a job: both its id and number when the API knows them."""

    id: str | None = None
    phone_number: str | None = None
    errors: tuple[ErrorObject, ...] = ()

    def key(self, by_id: bool) -> str | None:
        """The value this operation answers for, as the batch named it."""
        return self.id if by_id else self.phone_number


@dataclass(frozen=True, slots=True)
class Job:
    """A phone-numbers job as the API reports it."""

    id: str
    type: str
    status: JobStatus
    etc: datetime | None
    created_at: datetime | None
    phone_numbers: tuple[str, ...]
    successful: tuple[Operation, ...]
    pending: tuple[Operation, ...]
    failed: tuple[Operation, ...]

    def __repr__(self) -> str:
        return (
            f"<Job {self.id} {self.type} {self.status.value} ok={len(self.successful)} "
            f"pending={len(self.pending)} failed={len(self.failed)}>"
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


def _operations(items: Any) -> tuple[Operation, ...]:
    if not isinstance(items, list):
        return ()
    ops = []
    for item in items:
        if not isinstance(item, dict):
            continue
        errors = item.get("errors")
        ops.append(
            Operation(
                id=_str_or_none(item.get("id")),
                phone_number=_str_or_none(item.get("phone_number")),
                errors=tuple(e for e in errors if isinstance(e, dict))
                if isinstance(errors, list)
                else (),
            )
        )
    return tuple(ops)


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def job_from_json(data: Mapping[str, Any]) -> Job:
    """A ``Job`` from the API's job object; raises ``ValueError`` if it is not one."""
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("job object without an id")
    try:
        status = JobStatus(data.get("status", "pending"))
    except ValueError as exc:
        raise ValueError(f"job {job_id} has an unknown status {data.get('status')!r}") from exc
    sent = []
    for item in data.get("phone_numbers") or ():
        if isinstance(item, dict):
            value = item.get("phone_number") or item.get("id")
            if value is not None:
                sent.append(str(value))
    return Job(
        id=job_id,
        type=str(data.get("type", "")),
        status=status,
        etc=parse_time(data.get("etc")),
        created_at=parse_time(data.get("created_at")),
        phone_numbers=tuple(sent),
        successful=_operations(data.get("successful_operations")),
        pending=_operations(data.get("pending_operations")),
        failed=_operations(data.get("failed_operations")),
    )


# The fast way in: the answer decoded straight into typed values by msgspec, in C, with
# every field a decision does not need skipped without building an object. An answer
# that does not fit these types exactly goes the lenient way (``job_from_json``).


class _Ref(msgspec.Struct, gc=False):
    id: str | None = None
    phone_number: str | None = None


class _JobObject(msgspec.Struct, gc=False):
    id: str
    type: str = ""
    status: JobStatus = JobStatus.PENDING
    etc: str | None = None
    created_at: str | None = None
    phone_numbers: list[_Ref] = []
    successful_operations: list[Operation] = []
    pending_operations: list[Operation] = []
    failed_operations: list[Operation] = []


class _JobAnswer(msgspec.Struct, gc=False):
    data: _JobObject


class _Meta(msgspec.Struct, gc=False):
    page_number: int = 1
    total_pages: int = 1
    total_results: int = 0


class _ListAnswer(msgspec.Struct, gc=False):
    data: list[msgspec.Raw]
    meta: _Meta | None = None


_JOB_ANSWER = msgspec.json.Decoder(_JobAnswer)
_JOB_OBJECT = msgspec.json.Decoder(_JobObject)
_LIST_ANSWER = msgspec.json.Decoder(_ListAnswer)


def _job(data: _JobObject) -> Job:
    if not data.id:
        raise ValueError("job object without an id")
    return Job(
        id=data.id,
        type=data.type,
        status=data.status,
        etc=parse_time(data.etc),
        created_at=parse_time(data.created_at),
        phone_numbers=tuple(
            value for ref in data.phone_numbers if (value := ref.phone_number or ref.id)
        ),
        successful=tuple(data.successful_operations),
        pending=tuple(data.pending_operations),
        failed=tuple(data.failed_operations),
    )


def decode_job(body: bytes) -> Job:
    """The job in a ``{"data": Job}`` answer."""
    try:
        return _job(_JOB_ANSWER.decode(body).data)
    except msgspec.DecodeError:
        pass  # not this exact shape: read it leniently, or say what is wrong
    document = _load_object(body)
    data = document.get("data")
    if not isinstance(data, dict):
        raise ValueError("answer has no job in 'data'")
    return job_from_json(data)


def decode_jobs_page(body: bytes) -> JobsPage:
    """A page of ``GET /phone_numbers/jobs``."""
    try:
        answer = _LIST_ANSWER.decode(body)
    except msgspec.DecodeError:
        page = decode_page(body)  # raises what is wrong with it
        jobs = tuple(job for item in page.items if (job := _lenient_job(item)) is not None)
        return JobsPage(jobs, page.page_number, page.total_pages, page.total_results)
    jobs = tuple(job for raw in answer.data if (job := _job_item(raw)) is not None)
    meta = answer.meta or _Meta(total_results=len(answer.data))
    return JobsPage(jobs, meta.page_number, meta.total_pages, meta.total_results)


def _job_item(raw: msgspec.Raw) -> Job | None:
    try:
        return _job(_JOB_OBJECT.decode(raw))
    except (msgspec.DecodeError, ValueError):
        try:
            return _lenient_job(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return None


def _lenient_job(item: object) -> Job | None:
    if not isinstance(item, dict):
        return None
    try:
        return job_from_json(item)
    except ValueError:
        return None


def decode_page(body: bytes) -> Page:
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


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"answer is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError("answer is not a JSON object")
    return document


def error_objects(body: bytes) -> list[ErrorObject]:
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
    text = body[:200].decode("utf-8", "replace").strip() if body else ""
    return [{"code": "", "title": "Error answer without error objects", "detail": text}]


def error_for(status: int, body: bytes, rate: RateHeaders) -> ApiError:
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
