"""Fixtures shared by every test: the OpenAPI contract checker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from openapi_core import OpenAPI

from tests.contract import SPEC, SpecChecker


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


@pytest.fixture
def spec_checker(openapi: OpenAPI) -> Iterator[SpecChecker]:
    checker = SpecChecker(openapi)
    yield checker
    problems = checker.problems()
    assert not problems, "\n".join(problems)
