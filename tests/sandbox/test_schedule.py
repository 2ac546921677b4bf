"""The job state machine: a pure function of time, in microseconds."""

from __future__ import annotations

import pytest

from bulkupdate.sandbox.jobs import JobStatus, Schedule, to_us


def schedule(**changes: int | None) -> Schedule:
    settings: dict[str, int | None] = {
        "created_us": 1_000_000,
        "size": 4,
        "pending_us": 50_000,
        "op_us": 5_000,
        "ttl_us": 900_000_000,
    }
    settings.update(changes)
    return Schedule(**settings)  # type: ignore[arg-type]


def test_pending_then_one_operation_per_step_then_completed() -> None:
    s = schedule()
    start = s.started_us
    assert (s.status_at(start - 1), s.done_by(start - 1)) == (JobStatus.PENDING, 0)
    assert (s.status_at(start), s.done_by(start)) == (JobStatus.IN_PROGRESS, 0)
    assert s.done_by(start + 4_999) == 0
    assert s.done_by(start + 5_000) == 1
    assert s.done_by(start + 15_000) == 3
    assert s.status_at(start + 19_999) is JobStatus.IN_PROGRESS
    assert (s.status_at(start + 20_000), s.done_by(start + 20_000)) == (JobStatus.COMPLETED, 4)
    assert s.done_by(start + 10**9) == 4


def test_a_finished_job_whose_every_operation_failed_is_failed() -> None:
    s = schedule()
    assert s.status_at(s.ends_us, all_failed=True) is JobStatus.FAILED
    assert s.status_at(s.ends_us - 1, all_failed=True) is JobStatus.IN_PROGRESS


def test_an_empty_job_completes_when_it_starts() -> None:
    s = schedule(size=0)
    assert s.status_at(s.started_us - 1) is JobStatus.PENDING
    assert s.status_at(s.started_us, all_failed=True) is JobStatus.COMPLETED


def test_no_wait_and_no_operation_time_means_done_at_creation() -> None:
    s = schedule(pending_us=0, op_us=0)
    assert s.done_by(s.created_us) == 4
    assert s.status_at(s.created_us) is JobStatus.COMPLETED


def test_a_stalled_job_stops_at_its_stall_point_and_expires_after_the_ttl() -> None:
    s = schedule(stall_at=2, ttl_us=1_000_000)
    assert not s.finishes
    assert s.done_by(s.started_us + 10**6) == 2
    assert s.status_at(s.expires_us - 1) is JobStatus.IN_PROGRESS
    assert s.status_at(s.expires_us) is JobStatus.EXPIRED
    assert s.updated_at(s.expires_us + 5) == s.expires_us


def test_a_job_longer_than_its_ttl_expires_part_way() -> None:
    s = schedule(size=1000, ttl_us=1_000_000)  # 50 ms + 5 s of work, 1 s to live
    assert s.status_at(s.expires_us) is JobStatus.EXPIRED
    assert s.done_by(s.expires_us + 10**7) == (1_000_000 - 50_000) // 5_000


def test_a_job_that_ends_exactly_at_its_ttl_completes() -> None:
    s = schedule(ttl_us=50_000 + 4 * 5_000)
    assert s.finishes
    assert s.status_at(s.ends_us) is JobStatus.COMPLETED


def test_etc_is_the_plan_until_the_job_ends() -> None:
    s = schedule(stall_at=1, ttl_us=2_000_000)
    assert s.etc(s.created_us) == s.created_us + 50_000 + 4 * 5_000
    assert s.etc(s.expires_us) == s.expires_us


def test_updated_at_follows_the_last_visible_change() -> None:
    s = schedule()
    assert s.updated_at(s.created_us + 10) == s.created_us
    assert s.updated_at(s.started_us + 10) == s.started_us
    assert s.updated_at(s.started_us + 12_000) == s.op_time(1)
    assert s.updated_at(s.ends_us + 10**6) == s.ends_us


@pytest.mark.parametrize("seconds", [1_700_000_000.055, 1_700_000_000.06, 0.005])
def test_clock_seconds_become_exact_microseconds(seconds: float) -> None:
    # Epoch floats cannot hold 5 ms steps exactly; whole microseconds can.
    assert to_us(seconds) == round(seconds * 1_000_000)
    assert to_us(seconds) % 1000 == 0


def test_statuses_know_which_are_final() -> None:
    assert [s.final for s in JobStatus] == [False, False, True, True, True]
