"""A job's lists read lazily: whatever the answer holds, the same values as reading it all."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.api import job_lists
from bulkupdate.api.wire import Job, JobStatus, decode_job, decode_jobs_page, job_from_json

JOB_ID = "42587e44-3a3e-46de-9255-0c9a7a1d1ec7"

keys = st.one_of(st.none(), st.sampled_from(["+13125550100", "+13125550101", "158346697158"]))
odd_keys = st.one_of(keys, st.integers(0, 10**19), st.just(""), st.booleans())
errors = st.one_of(
    st.lists(st.one_of(st.just({"code": "10007"}), st.just({"code": 10015}), st.just("x"))),
    st.none(),
    st.just("boom"),
)
operation = st.fixed_dictionaries(
    {},
    optional={"id": odd_keys, "phone_number": odd_keys, "errors": errors, "other": st.just(1)},
)
entry = st.one_of(operation, st.just("junk"), st.none(), st.integers(-(2**63), 2**63 - 1))
a_list = st.one_of(
    st.lists(operation, max_size=6),
    st.lists(entry, max_size=6),
    st.none(),
    st.just({"not": "a list"}),
    st.just("text"),
)
job_data = st.fixed_dictionaries(
    {"id": st.just(JOB_ID), "status": st.sampled_from(["pending", "completed", "expired"])},
    optional={
        "type": st.just("update_phone_numbers"),
        "etc": st.sampled_from(["2020-10-30T18:10:00.000Z", "soon", None]),
        "phone_numbers": a_list,
        "successful_operations": a_list,
        "pending_operations": a_list,
        "failed_operations": a_list,
    },
)


@given(job_data)
def test_a_job_read_lazily_equals_the_job_read_whole(data: dict[str, Any]) -> None:
    whole = job_from_json(data)
    lazy = decode_job(orjson.dumps({"data": data}))
    # The counts and keys first, before anything else reads the lists.
    assert lazy.pending_count == len(whole.pending)
    for by_id in (False, True):
        assert lazy.successful_keys(by_id) == [op.key(by_id) for op in whole.successful]
    assert lazy == whole
    assert repr(lazy) == repr(whole)


@given(st.lists(job_data, max_size=4), st.booleans())
def test_a_page_holds_the_jobs_it_can_read(items: list[dict[str, Any]], odd: bool) -> None:
    data: list[Any] = [*items, {"id": ""}, "not a job"] if odd else items
    page = decode_jobs_page(orjson.dumps({"data": data, "meta": {"total_results": 9}}))
    assert list(page.jobs) == [job_from_json(item) for item in items]
    assert page.total_results == 9


def test_a_clean_job_is_settled_from_the_keys_alone() -> None:
    numbers = [f"+1312555{n:04d}" for n in range(3)]
    ops = [{"id": str(1583466971586889000 + n), "phone_number": v} for n, v in enumerate(numbers)]
    job = decode_job(
        orjson.dumps({"data": {"id": JOB_ID, "status": "completed", "successful_operations": ops}})
    )
    assert job.successful_keys(False) == numbers
    assert job.successful_keys(True) == [op["id"] for op in ops]
    assert job.pending_count == 0
    assert (job.pending, job.failed) == ((), ())


def test_a_job_built_from_values_answers_the_same_questions() -> None:
    op = job_lists.Operation("5", "+13125550100")
    job = Job(JOB_ID, "update_phone_numbers", JobStatus.EXPIRED, None, None, (), (op,), (op,))
    assert job.successful_keys(True) == ["5"]
    assert job.pending_count == 1
    assert hash(job) == hash(Job(JOB_ID, "", JobStatus.PENDING, None, None))


def test_a_raw_list_of_odd_entries_is_read_leniently() -> None:
    found = decode_job(
        orjson.dumps(
            {
                "data": {
                    "id": JOB_ID,
                    "successful_operations": [{"phone_number": 13125550100}, "junk"],
                    "pending_operations": [{"id": 5}, None, {"id": "6"}],
                }
            }
        )
    )
    assert found.successful_keys(False) == ["13125550100"]
    assert found.pending_count == 2
    assert found.pending == (job_lists.Operation("5"), job_lists.Operation("6"))


@pytest.mark.parametrize("shape", ['"a string"', '{"not": "a list"}', "17", "null"])
def test_a_list_of_the_wrong_shape_reads_as_empty_whenever_it_is_read(shape: str) -> None:
    body = (
        f'{{"data": {{"id": "{JOB_ID}", "status": "completed", "phone_numbers": {shape}, '
        f'"successful_operations": {shape}, "failed_operations": {shape}}}}}'
    ).encode()
    job = decode_job(body)
    assert job.pending_count == 0
    assert job.successful_keys(False) == []
    assert (job.phone_numbers, job.successful, job.failed) == ((), (), ())


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"id": JOB_ID, "status": "done"}, "unknown status 'done'"),
        ({"id": 42, "status": "completed"}, "without an id"),
        ({"status": "completed"}, "without an id"),
    ],
)
def test_a_job_of_the_wrong_shape_is_refused_naming_what_is_wrong(
    data: dict[str, Any], names: str
) -> None:
    with pytest.raises(ValueError, match=names):
        decode_job(orjson.dumps({"data": data}))
