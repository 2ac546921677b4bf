"""Settings shared by the library and the command line, free of the HTTP stack."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from bulkupdate.errors import UsageError
from bulkupdate.input.batching import MAX_BATCH_SIZE, check_batch_size

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"

# Bounds past which a value can only be a slip of the keyboard (or inf, nan, 1e308): each
# is far beyond what the API allows (20 active jobs, a few dozen requests a second).
RATE_RANGE = (0.01, 10_000.0)  # requests per second
TIMEOUT_RANGE = (0.1, 3600.0)  # seconds a request may take
ACTIVE_JOBS_RANGE = (1, 1000)
ATTEMPTS_RANGE = (1, 100)


def check_number(name: str, value: object, bounds: tuple[float, float], unit: str = "") -> None:
    """Raise ``UsageError`` naming ``name`` unless ``value`` is a finite number in ``bounds``.

    >>> check_number("--rate", float("inf"), RATE_RANGE)
    Traceback (most recent call last):
    ...
    bulkupdate.errors.UsageError: --rate must be a number from 0.01 to 10,000, got inf
    """
    low, high = bounds
    whole = isinstance(low, int) and isinstance(high, int)
    number = isinstance(value, int) if whole else isinstance(value, int | float)
    if (
        not number
        or isinstance(value, bool)
        or not math.isfinite(value)  # type: ignore[arg-type]
        or not low <= value <= high  # type: ignore[operator]
    ):
        kind = "a whole number" if whole else "a number"
        raise UsageError(f"{name} must be {kind} from {low:,g} to {high:,g}{unit}, got {value!r}")


class OwnershipMode(StrEnum):
    """How to find the numbers the account does not own (see ``ownership.py``)."""

    AUTO = "auto"
    BISECT = "bisect"
    INVENTORY = "inventory"


def check_pace(rate: object, timeout: object, *, prefix: str = "--") -> None:
    """Raise ``UsageError`` unless the request rate and timeout are sane; ``prefix``
    names them as flags (``--rate``) or, empty, as the library's arguments."""
    check_number(f"{prefix}rate", rate, RATE_RANGE, " requests a second")
    check_number(f"{prefix}timeout", timeout, TIMEOUT_RANGE, " seconds")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How hard the engine may push; validated when built."""

    max_active_jobs: int = 20
    max_attempts: int = 5
    batch_size: int = MAX_BATCH_SIZE
    ownership: OwnershipMode = OwnershipMode.AUTO

    def __post_init__(self) -> None:
        check_number("--max-active-jobs", self.max_active_jobs, ACTIVE_JOBS_RANGE)
        check_number("--max-attempts", self.max_attempts, ATTEMPTS_RANGE)
        check_batch_size(self.batch_size)
        object.__setattr__(self, "ownership", OwnershipMode(self.ownership))
