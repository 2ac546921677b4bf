"""The Redis server a shared budget lives on: its keys, its scripts, and its outages.

Every key is under ``bulkupdate:<hash of the API key>:``, so the processes using one key
(one account) share a budget and those of other keys do not; the key itself never
reaches Redis. ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs carry their own
user, password and database, as redis-py reads them.

Redis going away is a state, not an error: a call made while it is unreachable raises
``BudgetUnavailable`` at once (after one try that reaches for it, with backoff between
tries), the budget says so once in an event, and once more when it is back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import AuthenticationError, ReadOnlyError, RedisError, ResponseError

from bulkupdate.api.backoff import BackoffPolicy, compute_backoff
from bulkupdate.api.loop_clock import loop_time
from bulkupdate.budget.urls import redacted_url
from bulkupdate.errors import UsageError

CALL_TIMEOUT = 2.0  # seconds a call to Redis may take before Redis counts as gone
RECONNECT = BackoffPolicy(base=0.1, cap=2.0, jitter=0.5)
CONNECT_ATTEMPTS = 3  # when the run starts: a Redis not there by then is a wrong URL


class BudgetUnavailable(Exception):
    """Redis cannot be reached now; ``retry_at`` (loop time) is when to try again."""

    def __init__(self, retry_at: float) -> None:
        super().__init__("the shared budget's Redis cannot be reached")
        self.retry_at = retry_at


def micros(seconds: float) -> int:
    """Seconds as whole microseconds, the unit of every time kept on Redis."""
    return max(0, round(seconds * 1_000_000))


def account_namespace(api_key: str) -> str:
    """The prefix of one account's keys: a hash of its API key, never the key."""
    digest = hashlib.sha256(b"bulkupdate budget\0" + api_key.encode()).hexdigest()
    return f"bulkupdate:{digest[:24]}:"


class RedisLink:
    """One Redis connection pool for one account's budget."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        self.where = redacted_url(url)
        self.namespace = account_namespace(api_key)
        self.redis = redis.from_url(
            url,
            socket_timeout=CALL_TIMEOUT,
            socket_connect_timeout=CALL_TIMEOUT,
            # One quick second try: a pooled connection to a Redis since restarted fails
            # once. Beyond that the budget decides when to try again.
            retry=Retry(NoBackoff(), 1),
        )
        self._clock = clock
        self._failures = 0
        self._retry_at = 0.0
        self.down_since: float | None = None
        self.outages = 0
        # Told when Redis is lost and when it is back (the budget's event hook).
        self.on_event: Callable[..., None] | None = None

    def __repr__(self) -> str:
        state = "up" if self.down_since is None else "unreachable"
        return f"<RedisLink {self.where} {state} outages={self.outages}>"

    def key(self, name: str) -> str:
        return self.namespace + name

    def script(self, source: str) -> AsyncScript:
        return self.redis.register_script(source)

    async def connect(self) -> None:
        """Reach Redis before the run sends anything; a ``UsageError`` if it cannot."""
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                await self.redis.ping()
                return
            except AuthenticationError as exc:
                raise UsageError(f"--budget {self.where}: Redis refused the login ({exc})") from exc
            except (RedisError, OSError) as exc:
                if attempt == CONNECT_ATTEMPTS:
                    raise UsageError(
                        f"--budget {self.where}: Redis cannot be reached ({exc}); check the "
                        "host, port and TLS (rediss://), or run without --budget"
                    ) from exc
                await anyio.sleep(compute_backoff(attempt, RECONNECT))

    async def close(self) -> None:
        await self.redis.aclose()

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` atomically on Redis; ``BudgetUnavailable`` while it is gone."""
        if self.down_since is not None and self._clock() < self._retry_at:
            raise BudgetUnavailable(self._retry_at)
        try:
            answer = await script(keys=list(keys), args=list(args))
        except ResponseError as exc:
            if not isinstance(exc, ReadOnlyError):
                raise  # a script the server cannot run: a bug, not an outage
            self._lost(exc)  # a replica, until the failover is over
        except (RedisError, OSError) as exc:  # refused, reset, timed out, still loading
            self._lost(exc)
        else:
            self._back()
            return answer
        raise BudgetUnavailable(self._retry_at)

    async def wait_to_retry(self) -> None:
        """Sleep until the next try at Redis is due."""
        await anyio.sleep(max(0.0, self._retry_at - self._clock()))

    def _lost(self, exc: BaseException) -> None:
        now = self._clock()
        self._failures += 1
        wait = compute_backoff(self._failures, RECONNECT)
        self._retry_at = now + wait
        if self.down_since is None:
            self.down_since = now
            self.outages += 1
            self._event(
                "budget_unavailable",
                budget=self.where,
                reason=str(exc) or type(exc).__name__,
                meanwhile="new jobs wait; jobs running are watched at a cautious pace",
            )

    def _back(self) -> None:
        self._failures = 0
        if self.down_since is not None:
            gone = self._clock() - self.down_since
            self.down_since = None
            self._event("budget_restored", budget=self.where, unavailable_s=round(gone, 3))

    def _event(self, name: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(name, **fields)
