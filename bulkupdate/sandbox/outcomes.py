"""Whether one attempt to apply a job to one number succeeds: a pure classification.

The checks run in a fixed order, so a number that is both invalid and flaky always fails as
invalid: ``invalid_numbers`` (permanent 10015 at the job's field), a number deleted since
the job was created (10005), a delete blocked by the deletion lock (10015), then the
transient faults: ``flaky_numbers`` fail their first attempt only, other numbers fail with
probability ``fail_rate``, decided by the seeded hash of (number, attempt) so a retry is a
fresh draw and the same seed fails the same attempts whatever the order of jobs.
"""

from __future__ import annotations

import enum
from typing import Any

from bulkupdate.sandbox import refusals
from bulkupdate.sandbox.config import SandboxConfig
from bulkupdate.sandbox.dice import Dice


class Outcome(enum.Enum):
    APPLIED = "applied"
    INVALID = "invalid"  # the number refuses the change: never retry
    GONE = "gone"  # deleted meanwhile
    LOCKED = "locked"  # deletion lock on, for a delete
    TRANSIENT = "transient"  # 10007: retry

    def error(self, pointer: str) -> dict[str, Any] | None:
        """The ``errors`` entry of a failed operation; None when applied."""
        if self is Outcome.APPLIED:
            return None
        if self is Outcome.INVALID:
            return refusals.field_failure(pointer)
        if self is Outcome.GONE:
            return refusals.error_object(
                "10005", "Resource not found", refusals.NOT_FOUND, pointer="/phone_numbers"
            )
        if self is Outcome.LOCKED:
            return refusals.field_failure("/deletion_lock_enabled")
        return refusals.transient_failure()


def decide(
    number: str,
    attempt: int,
    *,
    owned: bool,
    locked_delete: bool,
    config: SandboxConfig,
    dice: Dice,
) -> Outcome:
    """The outcome of the ``attempt``-th application (from 1) to ``number``.

    >>> decide("+13125550100", 1, owned=True, locked_delete=False,
    ...        config=SandboxConfig(flaky_numbers=frozenset({"+13125550100"})), dice=Dice(0))
    <Outcome.TRANSIENT: 'transient'>
    """
    if number in config.invalid_numbers:
        return Outcome.INVALID
    if not owned:
        return Outcome.GONE
    if locked_delete:
        return Outcome.LOCKED
    if number in config.flaky_numbers:
        return Outcome.TRANSIENT if attempt == 1 else Outcome.APPLIED
    if dice.chance(config.fail_rate, "fail", number, attempt):
        return Outcome.TRANSIENT
    return Outcome.APPLIED
