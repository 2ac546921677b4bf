"""One account's budget shared through Redis by every process that uses the same URL and
API key: the pace (``redis_pace.py``) and the job slots as leases (``redis_slots.py``).

A task of the budget's own keeps Redis in step with this process: every ``HEARTBEAT``
seconds, and at once when a lease is given back or a 429 pauses everyone, it renews the
leases held, removes those given back and shares the pause. Redis lost and back costs
no lease: the next beat after its return writes back every lease this process holds.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio

from bulkupdate.budget.in_process import Budget
from bulkupdate.budget.redis_link import RedisLink
from bulkupdate.budget.redis_pace import SharedPace
from bulkupdate.budget.redis_slots import LeasedSlots
from bulkupdate.budget.slots import SharedSlots

HEARTBEAT = 1.0  # seconds between renewals of the leases held
CLOSE_TIMEOUT = 2.0  # seconds to give leases back when the budget closes


class RedisBudget(Budget):
    """The budget every process using ``url`` (and the same API key) shares.

    >>> async with RedisBudget("redis://localhost:6379/0", api_key=key, rate=20,
    ...                        max_active_jobs=20) as budget:      # doctest: +SKIP
    ...     client = ApiClient(key, governor=budget.governor)
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str,
        rate: float,
        max_active_jobs: int,
        timeout: float = 60.0,
    ) -> None:
        self.link = RedisLink(url, api_key)
        self.pace = SharedPace(rate, self.link)
        self.leases = LeasedSlots(max_active_jobs, self.link)
        super().__init__(self.pace, SharedSlots(self.leases))
        self.link.on_event = self.event
        self.timeout = timeout
        self._stack: AsyncExitStack | None = None
        self._changed = anyio.Event()
        self.pace.on_pause = self._wake
        self.leases.on_change = self._wake

    def __repr__(self) -> str:
        return f"<RedisBudget {self.link!r} {self.leases!r}>"

    async def __aenter__(self) -> RedisBudget:
        await self.link.connect()
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.link.close)
            group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(group.cancel_scope.cancel)  # runs first: the beat stops
            group.start_soon(self._keep_in_step)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        try:
            # Leases given back go now; those of jobs still running stay until they end.
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self.leases.sync()
        finally:
            await stack.aclose()

    def _wake(self) -> None:
        self._changed.set()

    async def _keep_in_step(self) -> None:
        while True:
            with anyio.move_on_after(HEARTBEAT):
                await self._changed.wait()
            self._changed = anyio.Event()
            await self.leases.sync()
            await self.pace.share_pause()
