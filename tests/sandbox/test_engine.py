"""The account engine without HTTP: jobs advanced lazily on a fake timeline."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bulkupdate.sandbox import SandboxConfig, refusals
from bulkupdate.sandbox.bodies import parse_delete, parse_emergency, parse_update
from bulkupdate.sandbox.engine import Engine, Job
from bulkupdate.sandbox.jobs import JobStatus
from bulkupdate.sandbox.queries import parse_jobs_query, parse_update_query
from bulkupdate.sandbox.refusals import ApiRefusal

from .conftest import NUMBERS

T0 = 1_700_000_000.0


def engine(**settings: Any) -> Engine:
    settings.setdefault("pending_ms", 100.0)
    settings.setdefault("op_ms", 10.0)
    return Engine(SandboxConfig(**settings), started_at=T0)


def update(
    e: Engine, numbers: list[str], now: float = T0, *, query: Any = (), **fields: Any
) -> Job:
    if not fields:
        fields = {"tags": ["x"]}
    body = parse_update(orjson.dumps({"phone_numbers": numbers, **fields}), has_filters=bool(query))
    return e.create_update(body, parse_update_query(list(query)), now)


def view(e: Engine, job: Job, now: float) -> dict[str, Any]:
    e.advance(now)
    result: dict[str, Any] = orjson.loads(e.job_json(job, now))
    return result


def numbers_of(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["phone_number"] for entry in entries]


def test_a_job_drains_pending_into_successful_one_operation_per_step() -> None:
    e = engine()
    job = update(e, NUMBERS[:3])
    first = view(e, job, T0)
    assert first["status"] == "pending"
    assert numbers_of(first["pending_operations"]) == NUMBERS[:3]
    assert first["successful_operations"] == first["failed_operations"] == []
    assert first["etc"] == "2023-11-14T22:13:20.130Z"  # 100 ms pending + 3 × 10 ms
    assert first["created_at"] == first["updated_at"] == "2023-11-14T22:13:20.000Z"

    middle = view(e, job, T0 + 0.115)
    assert middle["status"] == "in_progress"
    assert numbers_of(middle["successful_operations"]) == NUMBERS[:1]
    assert numbers_of(middle["pending_operations"]) == NUMBERS[1:3]
    assert middle["updated_at"] == "2023-11-14T22:13:20.110Z"

    done = view(e, job, T0 + 0.130)
    assert done["status"] == "completed"
    assert numbers_of(done["successful_operations"]) == NUMBERS[:3]
    assert done["pending_operations"] == []
    assert done["etc"] == done["updated_at"] == "2023-11-14T22:13:20.130Z"
    assert all(set(op) == {"id", "phone_number"} for op in done["successful_operations"])


def test_updates_replace_top_level_fields_and_merge_voice_field_by_field() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0)
    number = NUMBERS[0]
    update(
        e,
        [number],
        tags=["a", "b"],
        voice={"call_forwarding": {"forwards_to": "+13035559123", "forwarding_type": "always"}},
    )
    update(
        e,
        [number],
        T0 + 1,
        tags=["c"],
        external_pin="9999",
        voice={
            "call_forwarding": {"forwarding_type": "on-failure"},
            "media_features": {"t38_fax_gateway_enabled": True},
        },
    )
    record = e.inventory.find(number)
    assert record is not None
    assert record.tags == ["c"]
    assert record.external_pin == "9999"
    assert record.voice["call_forwarding"] == {
        "call_forwarding_enabled": True,
        "forwards_to": "+13035559123",
        "forwarding_type": "on-failure",
    }
    assert record.voice["media_features"] == {
        "rtp_auto_adjust_enabled": True,
        "accept_any_rtp_packets_enabled": False,
        "t38_fax_gateway_enabled": True,
    }
    detailed = record.detailed()
    assert detailed["t38_fax_gateway_enabled"] is True
    assert detailed["updated_at"] == "2023-11-14T22:13:21.000Z"
    assert e.stats.reapplied_after_success == 1  # the same number updated twice


def test_numbers_given_by_id_resolve_and_unknown_ids_are_not_owned() -> None:
    e = engine(own_all=False, inventory=tuple(NUMBERS[:2]))
    ids = [e.inventory.find(n).id for n in NUMBERS[:2]]  # type: ignore[union-attr]
    job = update(e, ids)
    assert job.refs == [{"id": i, "phone_number": n} for i, n in zip(ids, NUMBERS, strict=False)]
    assert view(e, job, T0)["phone_numbers"] == [{"id": i} for i in ids]
    with pytest.raises(ApiRefusal) as caught:
        update(e, [*ids, "1234567890123456"])
    assert (caught.value.detail, caught.value.pointer) == (refusals.NOT_OWNED, "/phone_numbers")


def test_ownership_refuses_the_whole_request() -> None:
    e = engine(unowned_numbers=frozenset({NUMBERS[5]}))
    for numbers in ([NUMBERS[4], NUMBERS[5]], ["+15555550100"]):  # unowned, invalid number
        with pytest.raises(ApiRefusal) as caught:
            update(e, numbers)
        assert caught.value.body()["errors"][0]["detail"] == refusals.NOT_OWNED
        assert NUMBERS[5] not in str(caught.value.body())
    assert e.stats.jobs_created == 0


def test_an_inventory_owns_only_its_numbers() -> None:
    e = engine(own_all=False, inventory=tuple(NUMBERS[:3]))
    update(e, NUMBERS[:3])
    with pytest.raises(ApiRefusal):
        update(e, [NUMBERS[3]])


def test_the_job_cap_counts_pending_and_in_progress_jobs() -> None:
    e = engine(job_cap=2)
    update(e, NUMBERS[0:1])
    update(e, NUMBERS[1:2])
    with pytest.raises(ApiRefusal) as caught:
        update(e, NUMBERS[2:3])
    assert caught.value.body()["errors"][0] == {
        "code": "10015",
        "title": "Bad Request",
        "detail": "You can have at most 2 pending or in progress jobs",
        "source": {"pointer": "/base"},
        "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10015"},
    }
    update(e, NUMBERS[2:3], T0 + 0.110)  # both finished at 110 ms: slots free again
    assert e.stats.peak_active == 2


def test_emergency_jobs_have_their_own_cap() -> None:
    e = engine(job_cap=1, emergency_job_cap=2)
    update(e, NUMBERS[0:1])

    def emergency(number: str) -> Job:
        body = {"phone_numbers": [number], "emergency_enabled": True, "emergency_address_id": "7"}
        return e.create_emergency(parse_emergency(orjson.dumps(body)), T0)

    emergency(NUMBERS[1])
    emergency(NUMBERS[2])
    with pytest.raises(ApiRefusal) as caught:
        emergency(NUMBERS[3])
    assert caught.value.detail == "You can have at most 2 pending or in progress jobs"
    e.advance(T0 + 1)
    record = e.inventory.find(NUMBERS[1])
    assert record is not None
    assert (record.emergency_enabled, record.emergency_address_id) == (True, "7")
    assert record.detailed()["emergency_status"] == "active"


def test_deleted_numbers_stop_being_owned() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0)
    job = e.create_delete(parse_delete(orjson.dumps({"phone_numbers": NUMBERS[:2]})), T0)
    assert job.status is JobStatus.COMPLETED
    record = e.inventory.find(NUMBERS[0])
    assert record is not None
    assert record.status == "deleted"
    with pytest.raises(ApiRefusal):
        update(e, [NUMBERS[0]])
    with pytest.raises(ApiRefusal):
        update(e, [record.id])


def test_deletion_lock_makes_a_delete_fail_for_that_number() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0)
    update(e, [NUMBERS[0]], deletion_lock_enabled=True)
    job = e.create_delete(parse_delete(orjson.dumps({"phone_numbers": NUMBERS[:2]})), T0)
    shown = view(e, job, T0)
    assert numbers_of(shown["successful_operations"]) == [NUMBERS[1]]
    assert shown["failed_operations"][0]["errors"][0]["source"] == {
        "pointer": "/deletion_lock_enabled"
    }


def test_an_update_reaching_a_number_deleted_meanwhile_fails_not_found() -> None:
    e = engine()
    deletion = e.create_delete(parse_delete(orjson.dumps({"phone_numbers": [NUMBERS[0]]})), T0)
    job = update(e, [NUMBERS[0], NUMBERS[1]], T0 + 0.001)
    assert e.stats.overlapping == 1
    e.advance(T0 + 1)
    assert deletion.status is JobStatus.COMPLETED
    assert job.failed[0]["errors"][0]["code"] == "10005"


def test_overlapping_counts_jobs_created_while_another_active_job_holds_a_number() -> None:
    e = engine()
    update(e, NUMBERS[0:3])
    update(e, NUMBERS[3:6])
    assert e.stats.overlapping == 0
    update(e, NUMBERS[2:4])  # holds numbers of both active jobs: one overlapping job
    assert e.stats.overlapping == 1
    update(e, NUMBERS[0:1], T0 + 10)  # the others have finished
    assert e.stats.overlapping == 1


def test_invalid_numbers_fail_with_the_field_pointer_and_are_never_applied() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0, invalid_numbers=frozenset({NUMBERS[1]}))
    job = update(
        e,
        NUMBERS[:2],
        voice={"call_forwarding": {"forwards_to": "+13035559123", "forwarding_type": "always"}},
    )
    shown = view(e, job, T0)
    assert shown["status"] == "completed"
    assert numbers_of(shown["successful_operations"]) == [NUMBERS[0]]
    failure = shown["failed_operations"][0]
    assert failure["phone_number"] == NUMBERS[1]
    assert failure["errors"] == [
        {
            "code": "10015",
            "title": "Bad Request",
            "detail": "The field is invalid.",
            "source": {"pointer": "/voice/call_forwarding/forwards_to"},
            "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10015"},
        }
    ]
    record = e.inventory.find(NUMBERS[1])
    assert record is not None
    assert "forwards_to" not in record.voice["call_forwarding"]


def test_a_job_whose_every_number_failed_is_failed() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0, invalid_numbers=frozenset(NUMBERS[:2]))
    job = update(e, NUMBERS[:2])
    assert job.status is JobStatus.FAILED
    assert e.stats_dict(T0, rate={})["jobs"]["failed"] == 1


def test_flaky_numbers_fail_transiently_once_then_succeed() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0, flaky_numbers=frozenset({NUMBERS[0]}))
    first = update(e, NUMBERS[:2])
    failure = first.failed[0]
    assert failure["phone_number"] == NUMBERS[0]
    assert failure["errors"][0]["code"] == "10007"
    assert failure["errors"][0]["detail"] == "An unexpected error occured."
    retry = update(e, [NUMBERS[0]], T0 + 1)
    assert retry.failed == []
    assert retry.successful == [first.refs[0]]
    assert e.stats.reapplied_after_success == 0


def failures(e: Engine, batches: list[list[str]], fields: dict[str, Any]) -> set[str]:
    jobs = [update(e, batch, T0 + i * 0.001, **fields) for i, batch in enumerate(batches)]
    e.advance(T0 + 100)
    return {op["phone_number"] for job in jobs for op in job.failed}


def test_transient_failures_depend_on_seed_number_and_attempt_not_on_order() -> None:
    fields = {"tags": ["x"]}
    numbers = NUMBERS[:80]
    forward = failures(engine(fail_rate=0.3, seed=11), [numbers[:40], numbers[40:]], fields)
    backward = failures(
        engine(fail_rate=0.3, seed=11), [numbers[40:][::-1], numbers[:40][::-1]], fields
    )
    assert forward == backward
    assert 10 < len(forward) < 40
    assert failures(engine(fail_rate=0.3, seed=12), [numbers], fields) != forward


def test_a_retry_is_a_new_attempt_and_usually_succeeds() -> None:
    e = engine(fail_rate=0.5, seed=4)
    failed = failures(e, [NUMBERS[:40]], {"tags": ["x"]})
    again = failures(e, [sorted(failed)], {"tags": ["x"]})
    assert len(again) < len(failed)


def test_a_stalled_job_expires_after_the_ttl_with_leftovers_pending_and_not_applied() -> None:
    e = engine(stall_rate=1.0, job_ttl=2.0, seed=1)
    job = update(e, NUMBERS[:10], external_pin="42")
    shown = view(e, job, T0 + 1.0)
    assert shown["status"] == "in_progress"
    stalled_at = len(shown["successful_operations"])
    assert stalled_at < 10
    shown = view(e, job, T0 + 2.0)
    assert shown["status"] == "expired"
    assert len(shown["successful_operations"]) == stalled_at
    leftovers = numbers_of(shown["pending_operations"])
    assert leftovers == NUMBERS[stalled_at:10]
    assert all(e.inventory.find(n).external_pin is None for n in leftovers)  # type: ignore[union-attr]
    stats = e.stats_dict(T0 + 2.0, rate={})
    assert (stats["jobs"]["expired"], stats["faults"]["stalled_jobs"]) == (1, 1)
    assert e.active_jobs == 0


def test_filters_without_numbers_update_the_owned_numbers_that_match() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0, own_all=False, inventory=tuple(NUMBERS[:6]))
    update(e, NUMBERS[:2], tags=["vip"])
    job = update(e, [], query=[("filter[tag]", "vip")], customer_reference="gold")
    assert [ref["phone_number"] for ref in job.sent] == NUMBERS[:2]
    assert numbers_of(job.successful) == NUMBERS[:2]
    assert e.inventory.find(NUMBERS[2]).customer_reference is None  # type: ignore[union-attr]


def test_filters_with_numbers_cover_the_given_numbers_that_match() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0)
    update(e, NUMBERS[:2], tags=["vip"])
    job = update(e, NUMBERS[1:4], query=[("filter[tag]", "vip")], external_pin="1")
    assert job.sent == [{"phone_number": n} for n in NUMBERS[1:4]]  # what was sent
    assert numbers_of(job.successful) == [NUMBERS[1]]  # what matched


def test_filters_cover_at_most_1000_numbers_per_call() -> None:
    from bulkupdate.sandbox import provision_numbers

    inventory = tuple(provision_numbers(1005, seed=2))
    e = engine(own_all=False, inventory=inventory)
    job = update(e, [], query=[("filter[status]", "active")])
    assert len(job.targets) == 1000


def test_jobs_list_newest_first_with_type_filter_and_meta() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0)
    made = [update(e, [n], T0 + i) for i, n in enumerate(NUMBERS[:5])]
    body = orjson.loads(e.jobs_page(parse_jobs_query([("page[size]", "2")]), T0 + 9))
    assert [j["id"] for j in body["data"]] == [made[4].id, made[3].id]
    assert body["meta"] == {"page_number": 1, "page_size": 2, "total_pages": 3, "total_results": 5}
    last = orjson.loads(
        e.jobs_page(parse_jobs_query([("page[size]", "2"), ("page[number]", "3")]), T0 + 9)
    )
    assert [j["id"] for j in last["data"]] == [made[0].id]
    deletes = parse_jobs_query([("filter[type]", "delete_phone_numbers")])
    assert orjson.loads(e.jobs_page(deletes, T0 + 9))["meta"]["total_results"] == 0


def test_reset_forgets_jobs_and_counters_and_restores_numbers() -> None:
    e = engine(pending_ms=0.0, op_ms=0.0, own_all=False, inventory=tuple(NUMBERS[:2]))
    job = update(e, NUMBERS[:2], tags=["changed"])
    e.reset()
    assert e.jobs(T0) == []
    assert e.inventory.find(NUMBERS[0]).tags == []  # type: ignore[union-attr]
    assert e.stats.applied == 0
    with pytest.raises(ApiRefusal):
        e.job(job.id, T0)


def test_serialized_jobs_are_cached_until_they_change() -> None:
    e = engine()
    job = update(e, NUMBERS[:2])
    first = e.job_json(job, T0)
    assert e.job_json(job, T0 + 0.05) is first  # still pending: nothing changed
    assert e.job_json(job, T0 + 0.2) is not first
