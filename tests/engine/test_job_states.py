"""The tracker: transient or not, why a request was refused, a final job's fate per number,
and when to look at a job again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.api.wire import ErrorObject, Job, JobStatus, Operation
from bulkupdate.engine.job_states import (
    END_POLL_SECONDS,
    MAX_POLL_SECONDS,
    MIN_POLL_SECONDS,
    NOT_APPLIED_ERROR,
    Refusal,
    classify_refusal,
    first_poll_delay,
    is_transient,
    next_poll_delay,
    settle,
)
from bulkupdate.errors import RequestRefused

UNEXPECTED: ErrorObject = {"code": "10007", "detail": "An unexpected error occured."}
TIMEOUT: ErrorObject = {"code": "10008", "detail": "Request timeout"}
THROTTLED: ErrorObject = {"code": "10011", "detail": "Too many requests"}
INVALID_FIELD: ErrorObject = {
    "code": "10015",
    "detail": "The field is invalid.",
    "source": {"pointer": "/connection_id"},
}


def job(
    status: JobStatus = JobStatus.COMPLETED,
    *,
    sent: tuple[str, ...] = (),
    ok: tuple[Operation, ...] = (),
    pending: tuple[Operation, ...] = (),
    failed: tuple[Operation, ...] = (),
    etc: datetime | None = None,
    created_at: datetime | None = None,
) -> Job:
    return Job("j1", "update_phone_numbers", status, etc, created_at, sent, ok, pending, failed)


def num(n: int) -> str:
    return f"+1312555{n:04d}"


def ident(n: int) -> str:
    return str(1583466971586889000 + n)


def op(n: int, *errors: ErrorObject) -> Operation:
    """An operation as the API reports it: both the id and the number."""
    return Operation(ident(n), num(n), tuple(errors))


# -- transient or permanent -----------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "transient"),
    [
        ([UNEXPECTED], True),
        ([TIMEOUT], True),
        ([THROTTLED], True),
        ([UNEXPECTED, TIMEOUT], True),
        ([INVALID_FIELD], False),
        ([UNEXPECTED, INVALID_FIELD], False),  # any permanent error wins
        ([{"detail": "no code at all"}], False),
        ([{"code": 10007}], True),  # a code sent as a number still counts
        ([], True),  # no errors say nothing: try again
    ],
)
def test_only_server_side_codes_are_transient(errors: list[ErrorObject], transient: bool) -> None:
    assert is_transient(errors) is transient


# -- why a whole request was refused --------------------------------------------------


def refused(*errors: ErrorObject) -> RequestRefused:
    return RequestRefused(422, list(errors))


def error_10015(detail: str | None, pointer: str | None) -> ErrorObject:
    error: ErrorObject = {"code": "10015", "title": "Bad Request", "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    return error


@pytest.mark.parametrize(
    ("detail", "pointer", "refusal"),
    [
        ("You must own every number in the bulk request", "/phone_numbers", Refusal.OWNERSHIP),
        ("You must own every number in the bulk request", None, Refusal.OWNERSHIP),
        ("You can have at most 20 pending or in progress jobs", "/base", Refusal.JOB_CAP),
        ("You can have at most 500 pending or in progress jobs", "/base", Refusal.JOB_CAP),
        ("You can have at most 20 pending or in progress jobs", None, Refusal.JOB_CAP),
        ("At most 20 active jobs are allowed", "/base", Refusal.JOB_CAP),
        ("1000 numbers is the maximum allowed.", "/phone_numbers", Refusal.INVALID),
        ("You must provide at least 1 phone number.", "/phone_numbers", Refusal.INVALID),
        (
            "You must specify either all phone numbers in the e164 format or all as phone "
            "number ids",
            "/phone_numbers",
            Refusal.INVALID,
        ),
        ("You must provide at least 1 updateable field.", "/updateable_fields", Refusal.INVALID),
        ("The field is invalid.", "/base", Refusal.INVALID),
        ("at most 3 tags", "/tags", Refusal.INVALID),
        (None, "/base", Refusal.INVALID),
    ],
)
def test_code_10015_is_told_apart_by_detail_and_pointer(
    detail: str | None, pointer: str | None, refusal: Refusal
) -> None:
    assert classify_refusal(refused(error_10015(detail, pointer))) is refusal


def test_a_refusal_without_error_objects_is_invalid() -> None:
    assert classify_refusal(refused()) is Refusal.INVALID


def test_an_ownership_error_after_another_error_still_counts() -> None:
    error = refused(
        error_10015("The field is invalid.", "/tags"),
        error_10015("You must own every number in the bulk request", "/phone_numbers"),
    )
    assert classify_refusal(error) is Refusal.OWNERSHIP


def test_a_source_that_is_not_an_object_is_tolerated() -> None:
    error: dict[str, Any] = {"code": "10015", "detail": "The field is invalid.", "source": "x"}
    assert classify_refusal(refused(error)) is Refusal.INVALID


# -- settling a final job -------------------------------------------------------------


def test_each_list_decides_the_fate_of_its_numbers() -> None:
    sent = tuple(num(n) for n in range(7))
    # 5 is in the job but in none of its lists; 6 is not in the job at all.
    final = job(
        sent=sent[:6],
        ok=(op(0),),
        failed=(op(1, INVALID_FIELD), op(2, UNEXPECTED), op(3, UNEXPECTED, INVALID_FIELD)),
        pending=(op(4),),
    )
    result = settle(final, sent, by_id=False)
    assert result.succeeded == [num(0)]
    assert result.failed == [
        (num(1), (INVALID_FIELD,)),
        (num(3), (UNEXPECTED, INVALID_FIELD)),
    ]
    assert result.retry == [
        (num(2), (UNEXPECTED,)),
        (num(4), (NOT_APPLIED_ERROR,)),
        (num(5), (NOT_APPLIED_ERROR,)),
        (num(6), (NOT_APPLIED_ERROR,)),  # without filters, nothing may leave a number out
    ]
    assert result.skipped == []


def test_an_id_batch_is_matched_by_id() -> None:
    sent = (ident(0), ident(1), ident(2))
    final = job(
        JobStatus.FAILED,
        sent=sent,
        ok=(op(0),),
        failed=(op(1, TIMEOUT),),
        pending=(op(2),),
    )
    result = settle(final, sent, by_id=True)
    assert result.succeeded == [ident(0)]
    assert result.retry == [(ident(1), (TIMEOUT,)), (ident(2), (NOT_APPLIED_ERROR,))]
    assert result.failed == []
    # The same job read as a number batch finds none of these ids.
    by_number = settle(final, sent, by_id=False)
    assert by_number.succeeded == []
    assert [value for value, _ in by_number.retry] == list(sent)  # mentioned, not in lists


def test_operations_for_numbers_not_sent_are_ignored() -> None:
    final = job(sent=(num(0), num(9)), ok=(op(0), op(9)), failed=(op(8, INVALID_FIELD),))
    result = settle(final, [num(0)], by_id=False)
    assert result.succeeded == [num(0)]
    assert result.retry == result.failed == []


def test_a_number_reported_twice_counts_once_and_success_wins() -> None:
    final = job(
        JobStatus.EXPIRED,
        sent=(num(0), num(1)),
        ok=(op(0), op(0)),
        failed=(op(0, INVALID_FIELD), op(1, UNEXPECTED), op(1, INVALID_FIELD)),
        pending=(op(1),),
    )
    result = settle(final, [num(0), num(1)], by_id=False)
    assert result.succeeded == [num(0)]
    assert result.retry == [(num(1), (UNEXPECTED,))]
    assert result.failed == []


def test_a_filtered_job_skips_the_numbers_it_left_out() -> None:
    final = job(sent=(num(0), num(1), num(2)), ok=(op(0),), pending=(op(1),))
    result = settle(final, [num(0), num(1), num(2)], by_id=False, filtered=True)
    assert result.succeeded == [num(0)]
    assert result.retry == [(num(1), (NOT_APPLIED_ERROR,))]
    assert result.skipped == [num(2)]
    assert result.failed == []


FATES = ["ok", "permanent", "transient", "pending", "mentioned", "absent"]


@given(
    fates=st.lists(st.sampled_from(FATES), max_size=60),
    extra=st.lists(st.sampled_from(FATES[:4]), max_size=10),
    by_id=st.booleans(),
    status=st.sampled_from([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED]),
    data=st.data(),
)
def test_settle_partitions_the_sent_numbers(
    fates: list[str], extra: list[str], by_id: bool, status: JobStatus, data: st.DataObject
) -> None:
    key = ident if by_id else num
    sent = [key(n) for n in range(len(fates))]
    lists: dict[str, list[Operation]] = {"ok": [], "failed": [], "pending": []}
    mentioned: list[str] = []
    # Numbers nobody sent may appear in the job too: they must be ignored.
    others = [(1000 + i, fate) for i, fate in enumerate(extra)]
    for n, fate in [*enumerate(fates), *others]:
        if fate != "absent":
            mentioned.append(key(n))
        if fate == "ok":
            lists["ok"].append(op(n))
        elif fate == "permanent":
            lists["failed"].append(op(n, INVALID_FIELD))
        elif fate == "transient":
            lists["failed"].append(op(n, UNEXPECTED))
        elif fate == "pending":
            lists["pending"].append(op(n))
    for name in lists:
        lists[name] = data.draw(st.permutations(lists[name]))
    final = job(
        status,
        sent=tuple(data.draw(st.permutations(mentioned))),
        ok=tuple(lists["ok"]),
        failed=tuple(lists["failed"]),
        pending=tuple(lists["pending"]),
    )

    filtered = data.draw(st.booleans())
    result = settle(final, sent, by_id=by_id, filtered=filtered)

    succeeded = result.succeeded
    retry = [value for value, _ in result.retry]
    failed = [value for value, _ in result.failed]
    everything = succeeded + retry + failed + result.skipped
    assert sorted(everything) == sorted(sent)  # each sent number exactly once
    left_out = "skipped" if filtered else "retry"
    expected = {
        "ok": "succeeded",
        "permanent": "failed",
        "transient": "retry",
        "pending": "retry",
        "mentioned": left_out,
        "absent": left_out,
    }
    where = dict.fromkeys(succeeded, "succeeded") | dict.fromkeys(retry, "retry")
    where |= dict.fromkeys(failed, "failed") | dict.fromkeys(result.skipped, "skipped")
    for n, fate in enumerate(fates):
        assert where[key(n)] == expected[fate]
    for _, errors in result.retry + result.failed:
        assert errors  # every number that did not go through says why


# -- when to look again ---------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "delay"),
    [(5.0, 5.0), (0.05, MIN_POLL_SECONDS), (-30.0, MIN_POLL_SECONDS), (600.0, MAX_POLL_SECONDS)],
)
def test_the_first_look_follows_the_servers_estimate(seconds: float, delay: float) -> None:
    submitted = job(JobStatus.PENDING, etc=T0 + timedelta(seconds=seconds), created_at=T0)
    # The server's estimate wins over what earlier jobs took.
    assert first_poll_delay(submitted, 1000, seconds_per_number=1.0) == pytest.approx(delay)


def test_the_last_small_jobs_are_looked_at_when_their_estimate_says() -> None:
    quick = job(JobStatus.PENDING, etc=T0 + timedelta(seconds=0.05), created_at=T0)
    assert first_poll_delay(quick, 10, None, floor=END_POLL_SECONDS) == pytest.approx(0.05)
    instant = job(JobStatus.PENDING, etc=T0, created_at=T0)
    assert first_poll_delay(instant, 10, None, floor=END_POLL_SECONDS) == END_POLL_SECONDS


def test_without_an_estimate_the_first_look_follows_earlier_jobs() -> None:
    submitted = job(JobStatus.PENDING, etc=T0)  # no created_at: no estimate
    assert first_poll_delay(submitted, 200, seconds_per_number=0.01) == pytest.approx(2.0)
    assert first_poll_delay(submitted, 1000, seconds_per_number=1.0) == MAX_POLL_SECONDS


def test_knowing_nothing_the_first_look_is_after_a_second() -> None:
    assert first_poll_delay(job(JobStatus.PENDING), 1000, seconds_per_number=None) == 1.0


def test_the_next_look_follows_the_work_left() -> None:
    running = job(JobStatus.IN_PROGRESS, pending=tuple(op(n) for n in range(50)))
    assert next_poll_delay(running, 0.1, polls_so_far=3) == pytest.approx(5.0)
    assert next_poll_delay(running, 10.0, polls_so_far=3) == MAX_POLL_SECONDS
    assert next_poll_delay(running, 0.0, polls_so_far=3) == MIN_POLL_SECONDS


def test_without_a_learned_pace_looks_back_off_gently() -> None:
    running = job(JobStatus.IN_PROGRESS, pending=(op(1),))
    delays = [next_poll_delay(running, None, polls) for polls in range(15)]
    assert delays[0] == 0.5
    assert delays[1] == pytest.approx(0.75)
    assert delays == sorted(delays)
    assert delays[10] == delays[14]  # the growth stops
    assert max(delays) <= MAX_POLL_SECONDS


def test_a_job_with_nothing_pending_backs_off_even_with_a_pace() -> None:
    stuck = job(JobStatus.IN_PROGRESS)
    assert next_poll_delay(stuck, 0.1, polls_so_far=2) == pytest.approx(0.5 * 1.5**2)


@given(
    pending=st.integers(0, 1000),
    pace=st.none() | st.floats(0, 100),
    polls=st.integers(0, 10_000),
    offset=st.floats(-1e6, 1e6),
)
def test_every_delay_is_within_the_poll_bounds(
    pending: int, pace: float | None, polls: int, offset: float
) -> None:
    running = job(
        JobStatus.IN_PROGRESS,
        pending=(op(1),) * pending,
        etc=T0 + timedelta(seconds=offset),
        created_at=T0,
    )
    for delay in (
        next_poll_delay(running, pace, polls),
        first_poll_delay(running, pending, pace),
    ):
        assert MIN_POLL_SECONDS <= delay <= MAX_POLL_SECONDS


def test_a_job_that_completed_cleanly_is_settled_whole_in_the_order_sent() -> None:
    sent = tuple(num(n) for n in range(5))
    final = job(sent=sent, ok=tuple(op(n) for n in reversed(range(5))))
    result = settle(final, sent, by_id=False)
    assert result.succeeded == list(sent)
    assert (result.retry, result.failed, result.skipped) == ([], [], [])
    assert settle(final, [ident(n) for n in range(5)], by_id=True).succeeded == [
        ident(n) for n in range(5)
    ]


def test_a_completed_job_with_a_stranger_in_place_of_a_number_sent_is_read_one_by_one() -> None:
    sent = (num(0), num(1))
    final = job(sent=sent, ok=(op(0), op(7)))
    result = settle(final, sent, by_id=False)
    assert result.succeeded == [num(0)]
    assert result.retry == [(num(1), (NOT_APPLIED_ERROR,))]
