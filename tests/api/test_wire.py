"""The wire: job JSON into typed values, error answers into the exception tree, rate headers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from bulkupdate.api.wire import (
    Job,
    JobStatus,
    Operation,
    RateHeaders,
    decode_job,
    decode_page,
    error_for,
    error_objects,
    job_from_json,
    parse_time,
    rate_headers,
)
from bulkupdate.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimited,
    RequestRefused,
    ServerError,
)

NO_RATE = RateHeaders(limit=None, remaining=None, reset=None, retry_after=None)

# The job example of Telnyx's OpenAPI spec (PhoneNumbersJob), trimmed to what matters.
SPEC_JOB: dict[str, Any] = {
    "created_at": "2020-10-23T18:10:00.000Z",
    "etc": "2020-10-30T18:10:00.000Z",
    "failed_operations": [
        {
            "errors": [
                {
                    "code": "10015",
                    "detail": "The field is invalid.",
                    "source": {"pointer": "/emergency_address_id"},
                    "title": "Bad Request",
                }
            ],
            "id": "3388768018273",
            "phone_number": "+19705551234",
        }
    ],
    "id": "42587e44-3a3e-46de-9255-0c9a7a1d1ec7",
    "pending_operations": [{"id": "2637816387126861837", "phone_number": "+19705555099"}],
    "phone_numbers": [
        {"id": "2637816387126861836"},
        {"phone_number": "+19715555098"},
        {"phone_number": "+19705555099"},
        {"id": "3388768018273"},
    ],
    "record_type": "phone_numbers_job",
    "status": "pending",
    "successful_operations": [
        {"id": "2637816387126861836", "phone_number": "+19705555098"},
        {"id": "33081887126861836", "phone_number": "+19715555098"},
    ],
    "type": "update_emergency_settings",
    "updated_at": "2020-10-23T18:10:01.000Z",
}


def test_the_spec_example_job_decodes_field_by_field() -> None:
    job = decode_job(orjson.dumps({"data": SPEC_JOB}))
    assert job.id == "42587e44-3a3e-46de-9255-0c9a7a1d1ec7"
    assert job.type == "update_emergency_settings"
    assert job.status is JobStatus.PENDING
    assert job.created_at == datetime(2020, 10, 23, 18, 10, tzinfo=UTC)
    assert job.etc == datetime(2020, 10, 30, 18, 10, tzinfo=UTC)
    assert job.phone_numbers == (
        "2637816387126861836",
        "+19715555098",
        "+19705555099",
        "3388768018273",
    )
    assert job.successful == (
        Operation("2637816387126861836", "+19705555098"),
        Operation("33081887126861836", "+19715555098"),
    )
    assert job.pending == (Operation("2637816387126861837", "+19705555099"),)
    (failed,) = job.failed
    assert (failed.id, failed.phone_number) == ("3388768018273", "+19705551234")
    assert failed.errors[0]["code"] == "10015"
    assert failed.errors[0]["source"] == {"pointer": "/emergency_address_id"}


def test_job_repr_counts_the_lists() -> None:
    job = job_from_json(SPEC_JOB)
    assert repr(job) == (
        "<Job 42587e44-3a3e-46de-9255-0c9a7a1d1ec7 update_emergency_settings pending "
        "ok=2 pending=1 failed=1>"
    )


def test_an_operation_answers_for_the_key_its_batch_used() -> None:
    op = Operation("123", "+13125550100")
    assert op.key(by_id=True) == "123"
    assert op.key(by_id=False) == "+13125550100"
    assert Operation(None, "+13125550100").key(by_id=True) is None


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (JobStatus.PENDING, False),
        (JobStatus.IN_PROGRESS, False),
        (JobStatus.COMPLETED, True),
        (JobStatus.FAILED, True),
        (JobStatus.EXPIRED, True),
    ],
)
def test_completed_failed_and_expired_are_final(status: JobStatus, final: bool) -> None:
    assert status.is_final is final


def test_a_minimal_job_gets_defaults() -> None:
    job = job_from_json({"id": "j1"})
    assert job == Job("j1", "", JobStatus.PENDING, None, None, (), (), (), ())


def test_malformed_parts_of_a_job_are_skipped_not_fatal() -> None:
    job = job_from_json(
        {
            "id": "j1",
            "status": "completed",
            "etc": "not a time",
            "created_at": 17,
            "phone_numbers": [{"id": 1583466971586889004}, "+1312", {"other": 1}, {"id": None}],
            "successful_operations": [{"id": 5, "phone_number": None}, "junk", None],
            "pending_operations": {"not": "a list"},
            "failed_operations": [
                {"phone_number": "+13125550100", "errors": "boom"},
                {"phone_number": "+13125550101", "errors": [{"code": "10007"}, "x", 3]},
            ],
        }
    )
    assert job.status is JobStatus.COMPLETED
    assert job.etc is None
    assert job.created_at is None
    assert job.phone_numbers == ("1583466971586889004",)
    assert job.successful == (Operation("5", None),)
    assert job.pending == ()
    assert job.failed == (
        Operation(None, "+13125550100", ()),
        Operation(None, "+13125550101", ({"code": "10007"},)),
    )


@pytest.mark.parametrize("data", [{}, {"id": ""}, {"id": 42}, {"id": None}])
def test_a_job_without_an_id_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="without an id"):
        job_from_json(data)


@pytest.mark.parametrize("status", ["done", "", None, "COMPLETED"])
def test_a_job_with_an_unknown_status_is_refused(status: object) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        job_from_json({"id": "j1", "status": status})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Bad gateway</html>", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"data": []}', "no job"),
        (b'{"errors": []}', "no job"),
    ],
)
def test_an_answer_that_holds_no_job_is_a_value_error(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_job(body)


def test_a_page_reads_its_meta() -> None:
    body = orjson.dumps(
        {
            "data": [{"id": "a"}, {"id": "b"}],
            "meta": {"page_number": 2, "page_size": 2, "total_pages": 5, "total_results": 9},
        }
    )
    page = decode_page(body)
    assert page.items == ({"id": "a"}, {"id": "b"})
    assert (page.page_number, page.total_pages, page.total_results) == (2, 5, 9)


@pytest.mark.parametrize(
    "meta", [None, "junk", {}, {"page_number": True, "total_pages": "3", "total_results": 1.5}]
)
def test_a_page_without_usable_meta_is_one_page_of_what_it_holds(meta: object) -> None:
    page = decode_page(orjson.dumps({"data": [1, 2, 3], "meta": meta}))
    assert (page.page_number, page.total_pages, page.total_results) == (1, 1, 3)
    assert page.items == (1, 2, 3)


@pytest.mark.parametrize("body", [b'{"data": {"id": "a"}}', b"{}", b"nope"])
def test_a_list_answer_without_a_list_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"list answer|not JSON"):
        decode_page(body)


# -- error answers --------------------------------------------------------------------

TOO_MANY_JOBS = {
    "code": "10015",
    "title": "Bad Request",
    "detail": "You can have at most 20 pending or in progress jobs",
    "source": {"pointer": "/base"},
}


def test_error_objects_come_as_they_came() -> None:
    other = {"code": "10015", "detail": "1000 numbers is the maximum allowed."}
    body = orjson.dumps({"errors": [TOO_MANY_JOBS, "noise", other]})
    assert error_objects(body) == [TOO_MANY_JOBS, other]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", ""),
        (b"upstream connect error", "upstream connect error"),
        (b'{"errors": []}', '{"errors": []}'),
        (b'{"errors": ["x"]}', '{"errors": ["x"]}'),
        (b'{"message": "nope"}', '{"message": "nope"}'),
        (b"x" * 500, "x" * 200),
    ],
)
def test_an_error_answer_without_error_objects_gets_a_stand_in(body: bytes, detail: str) -> None:
    (error,) = error_objects(body)
    assert error["code"] == ""
    assert error["title"] == "Error answer without error objects"
    assert error["detail"] == detail


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ApiError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (408, ServerError),
        (409, ApiError),
        (422, RequestRefused),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
def test_each_error_status_maps_to_its_exception(status: int, kind: type[ApiError]) -> None:
    body = orjson.dumps({"errors": [{"code": "10007", "detail": "An unexpected error occured."}]})
    error = error_for(status, body, NO_RATE)
    assert type(error) is kind
    assert error.status == status
    assert error.codes == ["10007"]
    assert error.details == ["An unexpected error occured."]
    assert str(error) == f"HTTP {status}: 10007 An unexpected error occured."


def test_a_refusal_keeps_every_error_object_and_names_the_pointer() -> None:
    error = error_for(422, orjson.dumps({"errors": [TOO_MANY_JOBS]}), NO_RATE)
    assert isinstance(error, RequestRefused)
    assert error.errors == [TOO_MANY_JOBS]
    assert "(/base)" in str(error)


@pytest.mark.parametrize(("status", "kind"), [(429, RateLimited), (503, ServerError)])
def test_retry_after_travels_with_throttles_and_server_errors(
    status: int, kind: type[ApiError]
) -> None:
    rate = RateHeaders(limit=10, remaining=0, reset=7.0, retry_after=3.0)
    error = error_for(status, b"", rate)
    assert isinstance(error, kind)
    assert error.retry_after == 3.0


@pytest.mark.parametrize("status", [401, 404, 422])
def test_retry_after_is_dropped_where_it_means_nothing(status: int) -> None:
    rate = RateHeaders(limit=None, remaining=None, reset=None, retry_after=3.0)
    assert error_for(status, b"", rate).retry_after is None


# -- rate headers ---------------------------------------------------------------------


def test_rate_headers_are_read_whatever_their_case() -> None:
    headers = CIMultiDict(
        {
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "42",
            "X-RateLimit-Reset": "17.5",
            "Retry-After": "3",
        }
    )
    assert rate_headers(headers) == RateHeaders(
        limit=100, remaining=42, reset=17.5, retry_after=3.0
    )


def test_missing_rate_headers_are_none() -> None:
    assert rate_headers({}) == NO_RATE


@pytest.mark.parametrize(
    "value", ["", "soon", "-1", "nan", "inf", "-inf", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
def test_unreadable_rate_headers_count_as_missing(value: str) -> None:
    headers = {
        "x-ratelimit-limit": value,
        "x-ratelimit-remaining": value,
        "x-ratelimit-reset": value,
        "retry-after": value,
    }
    assert rate_headers(headers) == NO_RATE


def test_whitespace_and_fractions_are_tolerated() -> None:
    headers = {"x-ratelimit-limit": " 10.9 ", "x-ratelimit-remaining": "0", "retry-after": "0"}
    rate = rate_headers(headers)
    assert (rate.limit, rate.remaining, rate.reset, rate.retry_after) == (10, 0, None, 0.0)


@given(
    st.dictionaries(
        st.sampled_from(
            ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"]
        ),
        # A small alphabet of what numbers are made of, plus noise: st.text()'s full
        # Unicode table takes a second to build on a fresh checkout.
        st.text(alphabet="0123456789 .-+eE_infaINFx:,", max_size=30)
        | st.floats(allow_nan=True).map(str),
    )
)
def test_rate_headers_never_raise_and_give_only_usable_numbers(headers: dict[str, str]) -> None:
    rate = rate_headers(headers)
    for value in (rate.limit, rate.remaining, rate.reset, rate.retry_after):
        assert value is None or (math.isfinite(value) and value >= 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-10-23T18:10:00.000Z", datetime(2020, 10, 23, 18, 10, tzinfo=UTC)),
        ("2020-10-23T18:10:00+00:00", datetime(2020, 10, 23, 18, 10, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
        (1603476600, None),
    ],
)
def test_times_are_iso_8601_or_nothing(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected
