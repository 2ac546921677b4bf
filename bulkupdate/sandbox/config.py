"""The sandbox's settings: one frozen dataclass, checked when it is built.

Every setting the ``bulkupdate sandbox`` command has is a field here with the command's
default, so a test can write ``SandboxConfig(op_ms=0, seed=3)`` and get what the command
would serve with ``--op-ms 0 --seed 3``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from bulkupdate.sandbox import presets
from bulkupdate.sandbox.clock import Clock
from bulkupdate.sandbox.phone import is_e164_syntax
from bulkupdate.sandbox.ratelimit import RateModel


@dataclass(frozen=True, slots=True)
class SandboxExchange:
    """One ``/v2`` request and the sandbox's answer, as the exchange hook receives it.

    Header names are lower-case. ``status`` is 0 and ``dropped`` True when the sandbox
    dropped the connection instead of answering (the ``drop_after_create_rate`` fault).
    """

    method: str
    path: str  # e.g. "/v2/phone_numbers/jobs"
    query: tuple[tuple[str, str], ...]  # decoded (name, value) pairs in order
    headers: Mapping[str, str]
    body: bytes
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes
    dropped: bool = False


_RATES = (
    "fail_rate",
    "error_rate",
    "slow_rate",
    "drop_after_create_rate",
    "error_after_create_rate",
    "stall_rate",
)
_NUMBER_SETS = ("unowned_numbers", "invalid_numbers", "flaky_numbers")
RATE_MODELS = tuple(model.value for model in RateModel)
# How a listing of the account's numbers may fail while the jobs endpoints work: a key
# without permission for it, a deployment without it, a listing that keeps failing.
LISTING_STATUSES = (403, 404, 500)
_DAY_MS = 86_400_000.0
_LARGEST = {  # a year of anything is more than a sandbox is for
    "rate": 1e6,
    "rate_window": 365 * _DAY_MS / 1000,
    "op_ms": 365 * _DAY_MS,
    "pending_ms": 365 * _DAY_MS,
    "slow_ms": 365 * _DAY_MS,
    "job_ttl": 365 * _DAY_MS / 1000,
}


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves. Times are milliseconds (``*_ms``) or seconds.

    >>> SandboxConfig(op_ms=0.0, seed=3).job_cap
    20
    """

    api_key: str | None = None  # None: any non-empty bearer key is accepted
    rate: float = 20.0  # requests per second per key
    rate_window: float = 1.0  # seconds a rate window lasts
    rate_model: str = "fixed"  # fixed | sliding | token-bucket (see ratelimit.py)
    rate_burst: int | None = None  # token-bucket capacity; None: rate × rate_window
    rate_headers: bool = True  # x-ratelimit-* on every answer (a proxy may strip them)
    count_refused: bool = True  # refused requests are charged against the limit too
    retry_after: bool = False  # add Retry-After to 429 answers
    listing_status: int | None = None  # GET /phone_numbers answers this error status
    job_cap: int = 20  # pending or in-progress update and delete jobs
    emergency_job_cap: int = 500  # pending or in-progress emergency-settings jobs
    op_ms: float = 5.0  # time one number takes inside a job
    etc_error: float = 0.0  # jobs take this share longer than the etc they announce
    pending_ms: float = 50.0  # time a job waits before it starts
    job_ttl: float = 900.0  # seconds after creation an unfinished job expires
    fail_rate: float = 0.0  # per-operation transient failures (10007)
    error_rate: float = 0.0  # requests answered 500 without doing anything
    slow_rate: float = 0.0  # requests answered late
    slow_ms: float = 1000.0  # how late
    drop_after_create_rate: float = 0.0  # job POSTs that create the job, then hang up
    error_after_create_rate: float = 0.0  # job POSTs that create the job, then answer 500
    stall_rate: float = 0.0  # jobs that stop part-way and expire after job_ttl
    seed: int = 0
    own_all: bool = True  # every valid +E.164 number is the account's, on first sight
    inventory: tuple[str, ...] = ()  # the account's numbers; needs own_all=False
    unowned_numbers: frozenset[str] = field(default_factory=frozenset)
    invalid_numbers: frozenset[str] = field(default_factory=frozenset)
    flaky_numbers: frozenset[str] = field(default_factory=frozenset)
    # Settings some numbers start with, by number: {"+13125550100": {"connection_id": "7"}}
    # (see presets.py for the names); every other setting starts as a fresh number's.
    number_settings: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    # Called with every /v2 request and its answer, before the answer is sent; it should
    # record and return (an exception there turns the answer into a 500).
    exchange_hook: Callable[[SandboxExchange], None] | None = None
    clock: Clock | None = None  # None: the system clock; tests pass a FakeClock

    def __post_init__(self) -> None:
        # Accept any iterable of numbers, but store immutable collections.
        object.__setattr__(self, "inventory", tuple(self.inventory))
        for name in _NUMBER_SETS:
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        problems = list(self._preset_problems())
        if not problems:
            settings = {n: presets.frozen(s) for n, s in self.number_settings.items()}
            object.__setattr__(self, "number_settings", MappingProxyType(settings))
        problems += self._problems()
        if problems:
            raise ValueError("invalid sandbox settings: " + "; ".join(problems))

    def _preset_problems(self) -> Iterable[str]:
        if not isinstance(self.number_settings, Mapping):
            yield "number_settings must be a table of numbers to their settings"
            return
        for number, settings in self.number_settings.items():
            if not is_e164_syntax(number):
                yield f"number_settings must be keyed by +E.164 numbers, not {number!r}"
                return
            found = list(presets.problems(number, settings))
            if found:
                yield f"number_settings: {found[0]}"
                return

    def _problems(self) -> Iterable[str]:
        for name, most in _LARGEST.items():
            value = getattr(self, name)
            # A settings file may say inf, nan or 1e308, where the command's flags cannot;
            # past these the sandbox's microsecond clock overflows.
            if not isinstance(value, int | float) or not -most <= value <= most:
                yield f"{name} must be a number no larger than {most:g} (got {value!r})"
                return
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                yield f"{name} must be between 0 and 1 (got {value})"
        for name in ("op_ms", "pending_ms", "slow_ms"):
            if getattr(self, name) < 0:
                yield f"{name} must be 0 or more (got {getattr(self, name)})"
        if not 0.0 <= self.etc_error <= 10.0:
            yield f"etc_error must be between 0 and 10 (got {self.etc_error})"
        if self.job_ttl <= 0:
            yield f"job_ttl must be more than 0 seconds (got {self.job_ttl})"
        if self.rate_window <= 0:
            yield f"rate_window must be more than 0 seconds (got {self.rate_window})"
        if self.rate_model not in RATE_MODELS:
            yield f"rate_model must be one of {', '.join(RATE_MODELS)} (got {self.rate_model!r})"
        if self.rate_burst is not None and self.rate_burst < 1:
            yield f"rate_burst must be at least 1 (got {self.rate_burst})"
        if self.listing_status is not None and self.listing_status not in LISTING_STATUSES:
            allowed = ", ".join(map(str, LISTING_STATUSES))
            yield f"listing_status must be one of {allowed} (got {self.listing_status})"
        if self.rate * self.rate_window < 1:
            yield (
                f"rate × rate_window must allow at least 1 request per window "
                f"(got {self.rate} × {self.rate_window})"
            )
        for name in ("job_cap", "emergency_job_cap"):
            if getattr(self, name) < 1:
                yield f"{name} must be at least 1 (got {getattr(self, name)})"
        if self.api_key is not None and not self.api_key.strip():
            yield "api_key must not be blank (use None to accept any key)"
        if self.own_all and self.inventory:
            yield "own_all and inventory exclude each other: pass own_all=False with an inventory"
        for name in ("inventory", *_NUMBER_SETS):
            bad = sorted(n for n in getattr(self, name) if not is_e164_syntax(n))
            if bad:
                yield f"{name} must hold +E.164 numbers, not {', '.join(map(repr, bad[:3]))}"

    @property
    def limit_per_window(self) -> int:
        """Requests admitted per rate window."""
        return int(self.rate * self.rate_window + 1e-9)

    def describe(self) -> dict[str, object]:
        """The settings as plain values, for the command's summary and for stats."""
        hidden = {"exchange_hook", "clock", "inventory", "number_settings", *_NUMBER_SETS}
        shown: dict[str, object] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden
        }
        if self.api_key is not None:
            shown["api_key"] = "(set)"
        shown["inventory"] = len(self.inventory)
        shown["number_settings"] = len(self.number_settings)
        for name in _NUMBER_SETS:
            shown[name] = len(getattr(self, name))
        return shown
