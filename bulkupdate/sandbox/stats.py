"""Counters a run leaves behind, served at ``GET /_sandbox/stats``.

Scripts depend on these keys: ``requests.{total,by_status,by_endpoint}``,
``jobs.{created,peak_active,refused_at_cap,expired,overlapping}``,
``rate.{model,headers,limit_per_second,peak_in_any_second}`` and
``numbers.{applied,distinct_applied,reapplied_after_success}``. A careful client keeps
``jobs.overlapping``, ``jobs.refused_at_cap`` and ``numbers.reapplied_after_success`` at 0.
``rate.peak_in_any_second`` counts every request that reached the limiter (refused ones too)
in the busiest one-second span, whatever the rate model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Always present, so a script can index them without checking: every status the sandbox
# answers and every endpoint it serves.
STATUSES = ("200", "202", "400", "401", "403", "404", "405", "422", "429", "500")
ENDPOINTS = (
    "GET /phone_numbers",
    "GET /phone_numbers/jobs",
    "GET /phone_numbers/jobs/{id}",
    "GET /phone_numbers/{id}",
    "GET /phone_numbers/{id}/voice",
    "POST /phone_numbers/jobs/delete_phone_numbers",
    "POST /phone_numbers/jobs/update_emergency_settings",
    "POST /phone_numbers/jobs/update_phone_numbers",
)


@dataclass(slots=True)
class Stats:
    """Mutable counters (the one place the sandbox keeps a running tally)."""

    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    jobs_created: int = 0
    jobs_by_type: Counter[str] = field(default_factory=Counter)
    jobs_final: Counter[str] = field(default_factory=Counter)
    peak_active: int = 0
    refused_at_cap: int = 0  # job creations refused because the account held its cap
    overlapping: int = 0
    applied: int = 0
    failed_operations: int = 0
    reapplied_after_success: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def count_request(self, endpoint: str, status: int | None) -> None:
        """Count one ``/v2`` request; ``status`` None for a dropped connection."""
        self.requests += 1
        self.by_endpoint[endpoint] += 1
        if status is not None:
            self.by_status[str(status)] += 1

    def as_dict(self, *, active: int, rate: dict[str, Any]) -> dict[str, Any]:
        return {
            "requests": {
                "total": self.requests,
                "by_status": _with_zeros(self.by_status, STATUSES),
                "by_endpoint": _with_zeros(self.by_endpoint, ENDPOINTS),
            },
            "jobs": {
                "created": self.jobs_created,
                "active": active,
                "peak_active": self.peak_active,
                "refused_at_cap": self.refused_at_cap,
                "completed": self.jobs_final["completed"],
                "failed": self.jobs_final["failed"],
                "expired": self.jobs_final["expired"],
                "overlapping": self.overlapping,
                "by_type": dict(sorted(self.jobs_by_type.items())),
            },
            "rate": {**rate, "limited": self.by_status["429"]},
            "numbers": {
                "applied": self.applied,
                "failed": self.failed_operations,
                "reapplied_after_success": self.reapplied_after_success,
            },
            "faults": {
                name: self.faults[name]
                for name in (
                    "errors",
                    "slow",
                    "dropped_after_create",
                    "errors_after_create",
                    "stalled_jobs",
                    "transient_failures",
                    "invalid_failures",
                    "gone_failures",
                    "locked_failures",
                )
            },
        }


def _with_zeros(counts: Counter[str], always: tuple[str, ...]) -> dict[str, int]:
    merged = dict.fromkeys(always, 0) | dict(counts)
    return dict(sorted(merged.items()))
