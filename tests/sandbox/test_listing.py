"""Listings follow the numbers' current settings: presets, jobs that change them, and
selections kept between pages that agree with a fresh look at every step."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.sandbox import SandboxConfig
from bulkupdate.sandbox.bodies import parse_delete, parse_update
from bulkupdate.sandbox.command import _settings
from bulkupdate.sandbox.engine import Engine
from bulkupdate.sandbox.listing import in_order
from bulkupdate.sandbox.numberfile import read_inventory
from bulkupdate.sandbox.queries import NumberSort, parse_numbers_query, parse_update_query

from .conftest import NUMBERS
from .test_command import parse

T0 = 1_700_000_000.0
A, B = "1293384261075731499", "1293384261075731500"


def account(**settings: Any) -> Engine:
    settings.setdefault("pending_ms", 0.0)
    settings.setdefault("op_ms", 1.0)
    return Engine(SandboxConfig(own_all=False, inventory=tuple(NUMBERS), **settings), started_at=T0)


def listed(e: Engine, now: float, **query: str) -> list[str]:
    pairs = [("page[size]", "250"), *((f"filter[{k}]", v) for k, v in query.items())]
    page = orjson.loads(e.numbers_page(parse_numbers_query(pairs), now))
    return [item["phone_number"] for item in page["data"]]


def test_numbers_start_with_their_presets_and_leave_a_filter_as_jobs_change_them() -> None:
    on_a = {number: {"connection_id": A, "tags": ["old"]} for number in NUMBERS[:10]}
    e = account(number_settings=on_a, op_ms=10.0)
    assert listed(e, T0, connection_id=A) == NUMBERS[:10]
    assert listed(e, T0, tag="old") == NUMBERS[:10]
    assert len(listed(e, T0, without_tags="true")) == 90
    assert len(listed(e, T0, without_tags="false")) == 100  # "all other values are ignored"

    raw = orjson.dumps({"phone_numbers": NUMBERS[:10], "connection_id": B})
    body = parse_update(raw, has_filters=True)
    e.create_update(body, parse_update_query([("filter[connection_id]", A)]), T0)
    # One number every 10 ms: half-way, half of them have left connection A.
    assert listed(e, T0 + 0.055, connection_id=A) == NUMBERS[5:10]
    assert listed(e, T0 + 0.055, connection_id=B) == NUMBERS[:5]
    assert listed(e, T0 + 1, connection_id=A) == []
    assert listed(e, T0 + 1, tag="old") == NUMBERS[:10]  # the tags were not part of the update


@pytest.mark.parametrize("seed", range(4))
def test_a_kept_selection_agrees_with_a_fresh_one_after_any_jobs(seed: int) -> None:
    rng = random.Random(seed)
    presets = {
        number: {"connection_id": rng.choice((A, B)), "tags": rng.sample(["x", "y", "z"], 1)}
        for number in NUMBERS
        if rng.random() < 0.7
    }
    e = account(number_settings=presets)
    queries = [
        ({"connection_id": A}, NumberSort.PHONE_NUMBER),
        ({"tag": "x"}, NumberSort.CREATED_AT),
        ({"without_tags": "true"}, NumberSort.PURCHASED_AT),
        ({"connection_id": B}, NumberSort.CONNECTION_NAME),
        ({}, NumberSort.PHONE_NUMBER),
        ({"status": "deleted"}, NumberSort.PHONE_NUMBER),
    ]
    now = T0
    for _ in range(25):
        owned = [record.phone_number for record in e.inventory.owned()]
        chosen = rng.sample(owned, rng.randint(1, 20))
        if rng.random() < 0.1:
            e.create_delete(parse_delete(orjson.dumps({"phone_numbers": chosen[:2]})), now)
        else:
            change: dict[str, Any] = rng.choice(
                [{"connection_id": A}, {"connection_id": B}, {"tags": ["x"]}, {"tags": []}]
            )
            body = parse_update(
                orjson.dumps({"phone_numbers": chosen, **change}), has_filters=False
            )
            e.create_update(body, None, now)
        now += rng.random() * 0.03  # jobs part-way through, or done
        e.advance(now)
        for filters, sort in rng.sample(queries, 3):
            number_filter = parse_numbers_query([(f"filter[{k}]", v) for k, v in filters.items()])
            kept = e.listings.ordered(number_filter.filter, sort)
            deleted = filters.get("status") == "deleted"
            pool = e.inventory.select(number_filter.filter.matches, include_deleted=deleted)
            assert [r.phone_number for r in kept] == [r.phone_number for r in in_order(pool, sort)]
    e.advance(now + 1)
    for filters, sort in queries:
        number_filter = parse_numbers_query([(f"filter[{k}]", v) for k, v in filters.items()])
        e.listings.ordered(number_filter.filter, sort)
    assert e.inventory.changes == []  # forgotten once every selection kept has caught up


def test_presets_are_checked_when_the_config_is_built() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"3125550100": {}}, "keyed by \\+E.164 numbers"),
        ({NUMBERS[0]: {"colour": "red"}}, "unknown setting 'colour'"),
        ({NUMBERS[0]: {"tags": "a"}}, "tags must be a list of strings"),
        ({NUMBERS[0]: {"status": "gone"}}, "status must be one of"),
        ({NUMBERS[0]: {"hd_voice_enabled": "yes"}}, "hd_voice_enabled must be true or false"),
    ]
    for settings, message in cases:
        with pytest.raises(ValueError, match=message):
            SandboxConfig(own_all=False, inventory=tuple(NUMBERS[:1]), number_settings=settings)
    config = SandboxConfig(number_settings={NUMBERS[0]: {"tags": ["a"]}})
    assert config.number_settings[NUMBERS[0]]["tags"] == ("a",)  # frozen with the config
    assert config.describe()["number_settings"] == 1


def test_an_inventory_file_gives_numbers_their_settings(tmp_path: Path) -> None:
    path = tmp_path / "inventory.jsonl"
    path.write_text(
        f"{NUMBERS[0]}  # plain\n"
        + orjson.dumps({"phone_number": NUMBERS[1], "connection_id": A, "tags": ["#1"]}).decode()
        + "\n",
        encoding="utf-8",
    )
    assert read_inventory(path) == (NUMBERS[:2], {NUMBERS[1]: {"connection_id": A, "tags": ["#1"]}})
    config, notes = _settings(parse("--inventory", str(path)))  # type: ignore[arg-type]
    assert config.inventory == tuple(NUMBERS[:2])
    assert "1 with settings of their own" in notes[0]
    for line, message in [
        ("{not json", "jsonl:1: not a JSON object"),
        ('{"connection_id": "7"}', "needs a \\+E.164 phone_number"),
        (f'{{"phone_number": "{NUMBERS[0]}", "colour": "red"}}', "unknown setting 'colour'"),
    ]:
        path.write_text(line + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_inventory(path)
