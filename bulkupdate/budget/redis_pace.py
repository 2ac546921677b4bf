"""The request pace every process of one account keeps, on Redis: GCRA, one script a request.

The generic cell rate algorithm (as redis-cell and most Redis rate limiters use) keeps one
number, the theoretical arrival time (TAT) of the next request. Each request reserves the
TAT, in one atomic script: it may go at ``max(TAT, now)``, and the TAT moves on one
interval. The interval is the process's own (``RateModel.interval``: the server's limit,
AIMD after 429s, the margin for a thin budget), so the processes share one grid at the
pace the most careful of them would keep. What one learns of the server's limit from its
headers goes into the same hash, for the others to start from; a 429's pause pushes the
TAT forward, so every process pauses with the one that met it. The script also counts
the processes that took a turn in the last ``SHARING_SPAN`` seconds: each can count on
its share of the pace (``RateGovernor.share``), and weighs polls and small jobs by it.

Locally each request first keeps this process's own pace (``RateGovernor``: the priority
of polls, the pause after a 429). When Redis cannot be reached, requests (polls of jobs
already running, mostly: new jobs wait for a job slot lease) go on at a cautious local
pace, a share of the process's own.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable

import anyio

from bulkupdate.api.governors import RateGovernor
from bulkupdate.api.loop_clock import loop_time
from bulkupdate.api.wire import RateHeaders
from bulkupdate.budget.redis_link import BudgetUnavailable, RedisLink, micros

CAUTIOUS_SHARE = 0.25  # of the pace, while Redis is away: room for a few processes
PACE_TTL_MS = 3_600_000  # an hour unused and the pace's state goes
SHARING_SPAN = 3.0  # seconds: a process that took a turn this recently shares the pace

# KEYS[1]: the pace hash (tat, limit, window; times in µs of Redis's clock); KEYS[2]: the
# processes sharing it, scored by their latest turn. ARGV: interval µs, pause µs (0: none),
# limit ('' if unknown), window µs, TTL ms, this process, SHARING_SPAN µs.
# Returns µs to wait before sending (0 to -1: none), the limit and window shared, and how
# many processes share the pace.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local pause = tonumber(ARGV[2])
if pause > 0 and now + pause > tat then tat = now + pause end
if tat < now then tat = now end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat + tonumber(ARGV[1])))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'limit', ARGV[3], 'window', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
local shared = redis.call('HMGET', KEYS[1], 'limit', 'window')
redis.call('ZADD', KEYS[2], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[7]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
return {string.format('%.0f', tat - now), shared[1], shared[2], redis.call('ZCARD', KEYS[2])}
"""


class SharedPace(RateGovernor):
    """A ``RateGovernor`` whose requests also keep a pace shared through Redis."""

    def __init__(
        self, rate: float, link: RedisLink, *, clock: Callable[[], float] = loop_time
    ) -> None:
        super().__init__(rate, clock=clock)
        self.link = link
        self._reserve = link.script(RESERVE)
        self._keys = [link.key("pace"), link.key("pacers")]
        self._me = secrets.token_hex(6)
        self._shared: tuple[int, float] | None = None  # the limit and window told Redis
        self._pause = 0.0  # a 429's pause not yet told to Redis
        self._cautious_next = -math.inf
        self.shared_waits = 0  # requests that waited for the shared pace
        # Called when a pause wants telling at once (the budget's sync task).
        self.on_pause: Callable[[], None] | None = None

    async def acquire(self, *, priority: bool = False) -> float:
        await super().acquire(priority=priority)
        wait = await self.reserve(self.model.interval(self._clock()))
        if wait > 0:
            self.shared_waits += 1
            await anyio.sleep(wait)
        return self._clock()

    async def reserve(self, interval: float) -> float:
        """Take the next turn on the shared grid (``interval`` wide); seconds to it."""
        model = self.model
        learned = None
        if model.limit is not None and model.window is not None:
            learned = (model.limit, model.window)
        tell = learned if learned != self._shared else None
        pause, self._pause = self._pause, 0.0
        args = [
            micros(interval),
            micros(pause),
            "" if tell is None else tell[0],
            "" if tell is None else micros(tell[1]),
            PACE_TTL_MS,
            self._me,
            micros(SHARING_SPAN),
        ]
        try:
            answer = await self.link.run(self._reserve, self._keys, args)
        except BudgetUnavailable:
            self._pause = max(self._pause, pause)  # to tell when Redis is back
            return self._cautious_turn(interval)
        wait_us, limit, window_us, sharing = answer
        self._shared = learned if tell is not None else self._shared
        self.sharing = int(sharing)
        if limit is not None and window_us is not None and model.limit is None:
            # Another process has met the server's limit: start from what it learned.
            model.limit = int(limit)
            model.window = int(window_us) / 1e6
            self._shared = (model.limit, model.window)
        return max(0.0, int(wait_us) / 1e6)

    def _cautious_turn(self, interval: float) -> float:
        now = self._clock()
        go_at = max(now, self._cautious_next)
        self._cautious_next = go_at + interval / CAUTIOUS_SHARE
        return go_at - now

    def throttled(self, sent_at: float, headers: RateHeaders) -> float:
        wait = super().throttled(sent_at, headers)
        if wait > 0:
            self._pause = max(self._pause, wait)
            if self.on_pause is not None:
                self.on_pause()
        return wait

    async def share_pause(self) -> None:
        """Tell the other processes of a 429's pause (without taking a turn)."""
        if self._pause > 0:
            await self.reserve(0.0)
