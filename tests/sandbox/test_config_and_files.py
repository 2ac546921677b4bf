"""Settings, number files, number syntax, and the sandbox's independence from the client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bulkupdate.sandbox as sandbox_package
from bulkupdate.sandbox import SandboxConfig, provision_numbers, read_numbers, write_numbers
from bulkupdate.sandbox.phone import EntryKind, classify, number_country, number_type, stable_id

from .conftest import NUMBERS

PACKAGE = Path(sandbox_package.__file__).parent


def test_the_sandbox_imports_nothing_from_the_client_side() -> None:
    for module in PACKAGE.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{module.name}: use absolute imports"
                names = [node.module or ""]
            for name in names:
                if name == "bulkupdate" or name.startswith("bulkupdate."):
                    assert name.startswith("bulkupdate.sandbox"), f"{module.name} imports {name}"


def test_public_names() -> None:
    assert sorted(sandbox_package.__all__) == [
        "Clock",
        "FakeClock",
        "Sandbox",
        "SandboxConfig",
        "SandboxExchange",
        "SystemClock",
        "provision_numbers",
        "read_numbers",
        "write_numbers",
    ]


def test_defaults_match_the_command() -> None:
    config = SandboxConfig()
    assert (config.rate, config.rate_window, config.retry_after) == (20.0, 1.0, False)
    assert (config.job_cap, config.emergency_job_cap) == (20, 500)
    assert (config.op_ms, config.job_ttl, config.seed, config.own_all) == (5.0, 900.0, 0, True)
    assert config.limit_per_window == 20
    assert config.describe()["job_cap"] == 20


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fail_rate": 1.5}, "fail_rate must be between 0 and 1"),
        ({"stall_rate": -0.1}, "stall_rate must be between 0 and 1"),
        ({"op_ms": -1.0}, "op_ms must be 0 or more"),
        ({"job_ttl": 0.0}, "job_ttl must be more than 0"),
        ({"rate": 0.5}, "rate × rate_window must allow at least 1 request"),
        ({"job_cap": 0}, "job_cap must be at least 1"),
        ({"rate_model": "leaky"}, "rate_model must be one of fixed, sliding, token-bucket"),
        ({"rate_burst": 0}, "rate_burst must be at least 1"),
        ({"listing_status": 401}, "listing_status must be one of 403, 404, 500"),
        ({"api_key": " "}, "api_key must not be blank"),
        ({"inventory": ("+13125550100",)}, "pass own_all=False with an inventory"),
        ({"invalid_numbers": {"3125550100"}}, r"invalid_numbers must hold \+E.164 numbers"),
    ],
)
def test_bad_settings_say_what_to_change(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**settings)  # type: ignore[arg-type]


def test_number_collections_are_stored_immutably() -> None:
    config = SandboxConfig(own_all=False, inventory=[NUMBERS[0]], flaky_numbers={NUMBERS[1]})  # type: ignore[arg-type]
    assert config.inventory == (NUMBERS[0],)
    assert config.flaky_numbers == frozenset({NUMBERS[1]})
    assert config.describe()["inventory"] == 1


def test_number_files_round_trip_and_skip_comments(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_text(f"# owned\n{NUMBERS[0]}\n\n  {NUMBERS[1]}  # second\n", encoding="utf-8")
    assert read_numbers(path) == NUMBERS[:2]
    assert read_numbers(write_numbers(NUMBERS[:3], tmp_path / "out.txt")) == NUMBERS[:3]


def test_provisioning_is_seeded_distinct_and_valid() -> None:
    numbers = provision_numbers(300, seed=8)
    assert numbers == provision_numbers(300, seed=8)
    assert numbers != provision_numbers(300, seed=9)
    assert len(set(numbers)) == 300
    assert all(number_country(n) == "US" for n in numbers)


def test_entry_classification_and_number_facts() -> None:
    assert classify("1583466971586889004") is EntryKind.ID
    assert classify("+13127367254") is EntryKind.E164
    for junk in ("+1 312 736 7254", "", "+", "12345678901234567890", "+013127367254", "abc"):
        assert classify(junk) is EntryKind.INVALID, junk
    assert number_country("+442079460000") == "GB"
    assert number_country("+15555550100") is None  # possible, not valid
    assert number_country("+13125550100") == "US"
    assert number_country("+4402079460000") is None  # not canonical
    assert number_type("+13125550100") == "local"
    assert number_type("+18005550100") == "toll_free"


def test_stable_ids_have_16_to_19_digits_and_do_not_change() -> None:
    ids = {stable_id(n) for n in provision_numbers(500)}
    assert len(ids) == 500
    assert all(i.isdigit() and 16 <= len(i) <= 19 for i in ids)
    assert stable_id(NUMBERS[0]) == stable_id(NUMBERS[0])
