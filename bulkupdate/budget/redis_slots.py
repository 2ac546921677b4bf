"""The account's job slots as leases on Redis, shared by every process using the account.

A lease is a member of one sorted set, scored by when it expires (Redis's clock, µs). A
slot is taken before a job's POST, in one script: expired leases are dropped, and a new
one is added only while the set holds fewer than the cap. The lease is given back when
the job is final (or its slot is lent at its estimated end: the other processes may use
it then, as this one does), and renewed while the job is watched: every second the
process sets every lease it holds to expire a job's length plus ``LEASE_MARGIN`` from
now. A process that dies stops renewing: its leases expire after about that long, by
which time its jobs have ended, and the other processes take the slots over.

Locally the slots are a ``JobSlots``: the room this process finds (its probes after a
refusal by the account's cap, which other clients may hold) and its lending. Each slot it
holds is one lease; the leases it gives back or takes by force (a job picked up on
resume, a lent slot taken back) are put right on Redis by ``sync``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import anyio

from bulkupdate.api.governors import JobSlots
from bulkupdate.api.loop_clock import loop_time
from bulkupdate.budget.redis_link import BudgetUnavailable, RedisLink, micros

LEASE_MARGIN = 5.0  # seconds a lease outlives its job's expected length
UNKNOWN_JOB = 60.0  # seconds a job is taken to last until one has said
TAKE_RETRY = 0.02  # seconds between tries for a lease while every slot is leased
TAKE_RETRY_MAX = 0.2

# KEYS[1]: the leases. ARGV: lease, cap, lifetime µs. Returns 1 if taken, else 0.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[3])), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) / 1000) + 1000)
return 1
"""

# KEYS[1]: the leases. ARGV: lifetime µs, how many to keep, then the leases to keep,
# then those to give back. Returns the leases held by every process.
SYNC = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = string.format('%.0f', now + tonumber(ARGV[1]))
local keep = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 3, 2 + keep do redis.call('ZADD', KEYS[1], until_, ARGV[i]) end
for i = 3 + keep, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
if keep > 0 then redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) / 1000) + 1000) end
return redis.call('ZCARD', KEYS[1])
"""


class LeasedSlots(JobSlots):
    """``JobSlots`` whose every slot held is also a lease on Redis."""

    def __init__(
        self,
        capacity: int,
        link: RedisLink,
        *,
        clock: Callable[[], float] = loop_time,
    ) -> None:
        super().__init__(capacity, clock=clock)
        self.link = link
        self._take = link.script(TAKE)
        self._sync = link.script(SYNC)
        self._key = link.key("slots")
        self._owner = secrets.token_hex(6)
        self._count = 0
        self._leases: list[str] = []  # one per slot held
        self._given_back: list[str] = []  # to be removed from Redis
        self.job_seconds = UNKNOWN_JOB
        self.margin = LEASE_MARGIN
        self.leased_by_all: int | None = None  # as of the latest sync
        self.waits = 0  # slots this process waited for because others held them
        # Called when leases want putting right at once (the budget's sync task).
        self.on_change: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<LeasedSlots {super().__repr__()} leases={len(self._leases)}>"

    @property
    def lease_seconds(self) -> float:
        return self.job_seconds + self.margin

    async def acquire(self) -> None:
        await super().acquire()  # room in this process first
        try:
            await self._lease()
        except BaseException:
            super().release()
            raise

    async def _lease(self) -> None:
        lease = self._new_lease()
        pause = TAKE_RETRY
        waited = False
        while True:
            try:
                taken = await self.link.run(
                    self._take, [self._key], [lease, self.ceiling, micros(self.lease_seconds)]
                )
            except BudgetUnavailable:
                await self.link.wait_to_retry()  # new jobs wait for Redis to come back
                continue
            except BaseException:
                self._give_back(lease)  # the script may have run: the lease must go
                raise
            if taken:
                self._leases.append(lease)
                return
            if not waited:
                waited = True
                self.waits += 1
            await anyio.sleep(pause)
            pause = min(TAKE_RETRY_MAX, pause * 1.5)

    def take(self) -> None:
        super().take()
        self._leases.append(self._new_lease())
        self._changed_leases()

    def release(self) -> None:
        super().release()
        self._give_back_one()

    def lend(self) -> None:
        super().lend()
        self._give_back_one()

    def reclaim(self) -> None:
        super().reclaim()
        self._leases.append(self._new_lease())  # the job still holds its slot
        self._changed_leases()

    def set_probe_interval(self, seconds: float) -> None:
        super().set_probe_interval(seconds)
        self.job_seconds = max(0.0, seconds)

    async def sync(self) -> None:
        """Renew every lease held; give back those let go. Quiet while Redis is away."""
        keep, gone = list(self._leases), list(self._given_back)
        if not keep and not gone:
            return
        args = [micros(self.lease_seconds), len(keep), *keep, *gone]
        try:
            self.leased_by_all = await self.link.run(self._sync, [self._key], args)
        except BudgetUnavailable:
            return  # tried again at the next beat; leases lost with Redis come back then
        del self._given_back[: len(gone)]

    def _give_back_one(self) -> None:
        if self._leases:
            self._give_back(self._leases.pop())

    def _give_back(self, lease: str) -> None:
        self._given_back.append(lease)
        self._changed_leases()

    def _changed_leases(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _new_lease(self) -> str:
        self._count += 1
        return f"{self._owner}:{self._count}"
