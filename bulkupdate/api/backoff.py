"""How long to wait before trying again: a small pure function and its policy.

Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and
Jitter"): the wait is drawn uniformly from [base·2ⁿ·(1−jitter), base·2ⁿ], capped. Jitter
keeps many workers that failed together from retrying together. A server's own hint
(``Retry-After`` or the rate-limit reset) wins when it asks for longer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.5  # share of the wait that is random: 0 = none, 1 = full jitter

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or not 0 <= self.jitter <= 1:
            raise ValueError(f"unusable backoff policy {self!r}")


DEFAULT_POLICY = BackoffPolicy()


def compute_backoff(
    attempt: int,
    policy: BackoffPolicy = DEFAULT_POLICY,
    *,
    hint: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
    # 2.0 ** 1024 overflows; past 2 ** 1023 the product is at the cap (or inf) anyway.
    ceiling = min(policy.cap, policy.base * 2.0 ** min(max(0, attempt - 1), 1023))
    wait = ceiling * (1 - policy.jitter * rand())
    if hint is not None:
        wait = max(wait, min(hint, policy.cap * 4))
    return wait
