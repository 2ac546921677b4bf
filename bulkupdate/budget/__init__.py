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

from bulkupdate.budget.in_process import Budget
from bulkupdate.budget.slots import RunSlots, SharedSlots
from bulkupdate.budget.urls import check_budget_url, redacted_url
from bulkupdate.errors import UsageError

__all__ = [
    "Budget",
    "RunSlots",
    "SharedSlots",
    "check_budget_url",
    "open_budget",
    "redacted_url",
]


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
