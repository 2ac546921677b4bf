"""One account's budget: its request pace and its job slots, shared by every run using it.

A Telnyx account has one request budget and one cap of active jobs, however many
programs use it. ``Budget`` shares them between the runs of one process (every call on
one ``BulkUpdater``, or one ``bulkupdate run``): one ``RateGovernor``, one set of job
slots handed round-robin (``slots.py``). ``open_budget("redis://...")`` shares them
between processes and hosts through Redis (``redis_budget.py``, imported only then).

    >>> async with open_budget(None, api_key=key, rate=20, max_active_jobs=20) as budget:
    ...     client = ApiClient(key, governor=budget.governor)   # doctest: +SKIP
    ...     await run_engine(client, request, chunks, slots=budget.run_slots())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bulkupdate.budget.slots import RunSlots, SharedSlots
from bulkupdate.errors import UsageError
from bulkupdate.limits import JobSlots, RateGovernor

__all__ = [
    "Budget",
    "RunSlots",
    "SharedSlots",
    "check_budget_url",
    "open_budget",
    "redacted_url",
]

BUDGET_SCHEMES = ("redis", "rediss", "unix")


class Budget:
    """The pace and job slots of one account, in this process."""

    def __init__(self, governor: RateGovernor, slots: SharedSlots) -> None:
        self.governor = governor
        self.slots = slots
        # Told of what happens to the budget itself (Redis lost and back): the event log.
        self.on_event: Callable[..., None] | None = None

    @classmethod
    def local(cls, rate: float, max_active_jobs: int) -> Budget:
        return cls(RateGovernor(rate), SharedSlots(JobSlots(max_active_jobs)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.governor!r} {self.slots!r}>"

    def run_slots(self) -> RunSlots:
        """The job slots of one more run on this budget."""
        return self.slots.for_run()

    async def __aenter__(self) -> Budget:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    def event(self, name: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(name, **fields)


def check_budget_url(url: str, *, flag: str = "--budget") -> str:
    """``url`` if it names a Redis server; else a ``UsageError`` that says what to give."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in BUDGET_SCHEMES or not rest:
        raise UsageError(
            f"{flag} must be a Redis URL: redis://HOST:PORT/DB, rediss://… for TLS, "
            "or unix:///path/to/redis.sock"
        )
    return url


def redacted_url(url: str) -> str:
    """``url`` with any password hidden, fit for logs and the journal."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def open_budget(
    url: str | None,
    *,
    api_key: str,
    rate: float,
    max_active_jobs: int,
    timeout: float = 60.0,
) -> Budget:
    """This process's budget, or (``url``) the one every process using ``url`` shares.

    Use it as an async context manager inside the running loop.
    """
    if url is None:
        return Budget.local(rate, max_active_jobs)
    check_budget_url(url)
    try:
        from bulkupdate.budget.redis_budget import RedisBudget
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "redis":
            raise
        raise UsageError(
            'a shared --budget needs the Redis client: pip install "bulkupdate[redis]"'
        ) from exc
    return RedisBudget(
        url, api_key=api_key, rate=rate, max_active_jobs=max_active_jobs, timeout=timeout
    )
