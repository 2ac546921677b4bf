"""Per-number outcomes, and the sandbox's docstring examples, which run as tests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from typing import Any

import pytest

import bulkupdate.sandbox
from bulkupdate.sandbox import SandboxConfig
from bulkupdate.sandbox.dice import Dice
from bulkupdate.sandbox.outcomes import Outcome, decide

from .conftest import NUMBERS

N = NUMBERS[0]


def outcome(
    attempt: int = 1, *, owned: bool = True, locked: bool = False, **settings: Any
) -> Outcome:
    config = SandboxConfig(**settings)
    return decide(N, attempt, owned=owned, locked_delete=locked, config=config, dice=Dice(0))


def test_the_order_of_checks() -> None:
    both: dict[str, Any] = {"invalid_numbers": frozenset({N}), "flaky_numbers": frozenset({N})}
    assert outcome(**both) is Outcome.INVALID
    assert outcome(owned=False, locked=True) is Outcome.GONE
    assert outcome(locked=True, fail_rate=1.0) is Outcome.LOCKED
    assert outcome(flaky_numbers=frozenset({N})) is Outcome.TRANSIENT
    assert outcome(2, flaky_numbers=frozenset({N}), fail_rate=1.0) is Outcome.APPLIED
    assert outcome(7, fail_rate=1.0) is Outcome.TRANSIENT
    assert outcome(7) is Outcome.APPLIED


def test_each_failure_has_its_error_body() -> None:
    assert Outcome.APPLIED.error("/tags") is None
    assert Outcome.INVALID.error("/tags")["source"] == {"pointer": "/tags"}  # type: ignore[index]
    assert Outcome.GONE.error("/tags")["code"] == "10005"  # type: ignore[index]
    assert Outcome.LOCKED.error("/tags")["source"] == {"pointer": "/deletion_lock_enabled"}  # type: ignore[index]
    transient = Outcome.TRANSIENT.error("/tags")
    assert transient is not None
    assert (transient["code"], transient["title"]) == ("10007", "Unexpected error")


MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(bulkupdate.sandbox.__path__, "bulkupdate.sandbox.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
