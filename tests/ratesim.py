"""One client's rate model against one server limiter, on a simulated clock.

A discrete-event simulation: the client sends whenever its model says it may (and, like
the governor, looks again only when the wait it was given is over); each request reaches
the server after half a round trip plus jitter, is judged there by a sandbox limiter, and
its answer (rate headers, or a 429) comes back after the other half. Nothing sleeps: a
minute of traffic runs in milliseconds, the same way every time for a given seed.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from bulkupdate.api.rate_model import RateModel
from bulkupdate.api.wire import RateHeaders
from bulkupdate.sandbox.ratelimit import BusiestSecond, Limiter, Verdict

NO_HEADERS = RateHeaders(None, None, None, None)


@dataclass
class Server:
    """The server side: a limiter, and whether its answers carry the rate headers."""

    limiter: Limiter
    headers: bool = True
    retry_after: bool = False
    busiest: BusiestSecond = field(default_factory=BusiestSecond)

    def judge(self, now: float) -> Verdict:
        self.busiest.record(now)
        return self.limiter.hit("key", now)

    def rate_headers(self, verdict: Verdict) -> RateHeaders:
        if not self.headers:
            retry = float(max(1, verdict.retry_after)) if self.retry_after else None
            return RateHeaders(None, None, None, retry)
        return RateHeaders(
            limit=verdict.limit,
            remaining=verdict.remaining,
            reset=float(verdict.reset_after),
            retry_after=float(max(1, verdict.retry_after)) if self.retry_after else None,
        )


@dataclass
class Outcome:
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    accepted_after: dict[float, int] = field(default_factory=dict)  # accepted since t

    @property
    def refused_share(self) -> float:
        return self.refused / max(1, self.sent)


def simulate(
    model: RateModel,
    server: Server,
    *,
    seconds: float,
    start: float = 1_000.0,
    round_trip: float = 0.004,
    jitter: float = 0.002,
    seed: int = 1,
    changes: dict[float, Callable[[Server], None]] | None = None,
    count_from: tuple[float, ...] = (),
    busy_share: float = 0.0,
    busy_for: float = 0.0,
) -> tuple[Outcome, BusiestSecond]:
    """Run for ``seconds`` of simulated time from ``start``; ``changes`` are applied to the
    server at their offsets; ``count_from`` offsets record how many were accepted after.
    ``busy_share`` of the client's wake-ups come up to ``busy_for`` seconds late, as on a
    loop busy with other work."""
    rng = random.Random(seed)
    events: list[tuple[float, int, str, float, Verdict | None]] = []
    order = count()

    def push(when: float, kind: str, sent_at: float = 0.0, verdict: Verdict | None = None) -> None:
        heapq.heappush(events, (when, next(order), kind, sent_at, verdict))

    def wake(when: float) -> None:
        late = rng.random() * busy_for if rng.random() < busy_share else 0.0
        push(when + late, "try")

    outcome = Outcome(accepted_after=dict.fromkeys(count_from, 0))
    end = start + seconds
    push(start, "try")
    for offset in changes or {}:
        push(start + offset, "change")
    pending_changes = sorted((changes or {}).items())
    while events:
        now, _, kind, sent_at, verdict = heapq.heappop(events)
        if now > end:
            break
        if kind == "change":
            pending_changes.pop(0)[1](server)
        elif kind == "try":
            wait = model.delay(now)
            if wait > 0:
                wake(now + wait)
                continue
            model.sent(now)
            outcome.sent += 1
            push(now + round_trip / 2 + rng.random() * jitter, "arrive", now)
            wake(now + max(1e-6, model.delay(now)))
        elif kind == "arrive":
            push(now + round_trip / 2 + rng.random() * jitter, "answer", sent_at, server.judge(now))
        else:
            assert verdict is not None
            if verdict.allowed:
                outcome.accepted += 1
                for since in outcome.accepted_after:
                    if sent_at >= start + since:
                        outcome.accepted_after[since] += 1
                model.answered(now, sent_at, server.rate_headers(verdict))
            else:
                outcome.refused += 1
                model.throttled_at(now, server.rate_headers(verdict), sent_at)
    return outcome, server.busiest
