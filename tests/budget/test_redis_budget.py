"""The budget shared through a real Redis, one piece at a time: leases of job slots that
processes share and that expire when their holder dies, one GCRA grid for the pace with
what one process learns shared, keys under a hash of the API key, the URL's password,
and an outage that costs no lease."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from bulkupdate.budget import open_budget
from bulkupdate.budget.redis_budget import RedisBudget
from bulkupdate.errors import UsageError
from bulkupdate.runs.run_options import RunOptions
from tests.redis_server import RedisServer, free_port


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path_factory.mktemp("redis"))
    yield redis
    redis.stop()


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.start()  # running again if a test stopped it; empty either way
    redis_server.flush()
    return redis_server


def budget(url: str, key: str = "key-one", jobs: int = 3) -> RedisBudget:
    opened = open_budget(url, api_key=key, rate=10, max_active_jobs=jobs)
    assert isinstance(opened, RedisBudget)
    return opened


async def test_processes_share_the_job_slots_and_other_keys_do_not(server: RedisServer) -> None:
    async with (
        budget(server.url) as one,
        budget(server.url) as two,
        budget(server.url, key="key-two") as stranger,
    ):
        first, second = one.run_slots(), two.run_slots()
        for _ in range(2):
            await first.acquire()
        await second.acquire()
        with anyio.move_on_after(0.1) as waited:
            await second.acquire()  # the cap of 3 is taken between them
        assert waited.cancelled_caught
        other = stranger.run_slots()
        for _ in range(3):
            await other.acquire()  # another account: a budget of its own
        async with anyio.create_task_group() as group:
            group.start_soon(second.acquire)
            # Until Redis has refused it once (its first try may still be on the wire,
            # which counts as blocked): then the slot given back is one it waited for.
            # A bounded look at a counter: the lease loop sets no event to wait on.
            with anyio.fail_after(5):
                while two.leases.waits < 2:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
            first.release()  # given back on Redis at once: the other process takes it
        assert (one.leases.waits, two.leases.waits) == (0, 2)
        keys = cast(list[bytes], await one.link.redis.keys("*"))
    assert all(b"key-one" not in key and b"key-two" not in key for key in keys)
    assert len({key.rsplit(b":", 1)[0] for key in keys}) == 2  # a namespace per account


async def test_the_slots_of_a_process_that_died_expire_on_their_own(server: RedisServer) -> None:
    dead = budget(server.url)
    await dead.link.connect()  # no heartbeat: it holds two leases and never renews them
    dead.leases.job_seconds, dead.leases.margin = 0.2, 0.1
    held = dead.run_slots()
    for _ in range(2):
        await held.acquire()
    async with budget(server.url) as alive:
        slots = alive.run_slots()
        await slots.acquire()
        with anyio.fail_after(5):
            for _ in range(2):
                await slots.acquire()  # once the dead one's leases have expired
        assert alive.leases.waits == 1
    await dead.link.close()


async def test_one_pace_for_every_process_and_what_one_learns_is_shared(
    server: RedisServer,
) -> None:
    async with budget(server.url) as one, budget(server.url) as two:
        one.pace.model.limit, one.pace.model.window = 20, 1.0
        waits = []
        for _ in range(3):
            waits += [await one.pace.reserve(0.1), await two.pace.reserve(0.1)]
        # One grid: each turn a tenth of a second after the one before, whoever took it.
        assert waits[0] < 0.01
        assert all(0.08 < b - a < 0.11 for a, b in itertools.pairwise(waits))
        # Each counts the other: its share of the pace is half.
        assert (one.pace.sharing, two.pace.sharing) == (2, 2)
        assert one.pace.share == one.pace.model.rate / 2
        assert (two.pace.model.limit, two.pace.model.window) == (20, 1.0)
        one.pace._pause = 2.0  # a 429 met by one process pauses the other too
        await one.pace.share_pause()
        assert await two.pace.reserve(0.1) > 1.9


async def test_the_urls_password_and_reach_are_checked_before_anything_is_sent(
    server: RedisServer,
) -> None:
    with pytest.raises(UsageError, match="refused the login"):
        await budget(server.url.replace("budget-secret", "wrong")).__aenter__()
    with pytest.raises(UsageError, match="cannot be reached") as unreachable:
        await budget(f"redis://:hidden@127.0.0.1:{free_port()}/0").__aenter__()
    assert "hidden" not in str(unreachable.value)
    with pytest.raises(UsageError, match="must be a Redis URL"):
        open_budget("http://127.0.0.1:6379", api_key="k", rate=1, max_active_jobs=1)


async def test_redis_lost_and_back_costs_no_lease(server: RedisServer) -> None:
    told: list[str] = []
    async with budget(server.url) as shared:
        shared.on_event = lambda name, **fields: told.append(name)
        slots = shared.run_slots()
        for _ in range(2):
            await slots.acquire()
        server.stop()
        # Requests go on at a cautious pace of their own, a quarter of the process's.
        assert await shared.pace.reserve(0.1) == 0.0
        assert await shared.pace.reserve(0.1) == pytest.approx(0.4, abs=0.05)
        assert told == ["budget_unavailable"]
        server.start()  # empty: the leases went with the server
        with anyio.fail_after(10):
            while shared.leases.leased_by_all != 2:  # the beat writes them back
                await shared.link.wait_to_retry()
                await shared.leases.sync()
    assert told == ["budget_unavailable", "budget_restored"]


def test_a_run_that_shared_a_budget_with_a_password_resumes_only_with_it() -> None:
    settings: dict[str, Any] = {
        "read": {"default_region": None, "column": None, "ids": False, "strict": False,
                 "input_format": None},
        "request": {"fields": {"tags": ["a"]}, "filters": {}},
        "inputs": [{"path": "numbers.txt", "size": 1, "sha256": ""}],
        "engine": {"max_active_jobs": 20, "max_attempts": 5, "batch_size": 1000,
                   "ownership": "auto"},
        "rate": 20.0, "timeout": 60.0, "base_url": None, "sandbox": True,
        "sandbox_config": None, "budget": "redis://:***@127.0.0.1:6379/0",
    }  # fmt: skip
    with pytest.raises(UsageError, match="resume it with --budget"):
        RunOptions.from_settings(settings)
    given = RunOptions.from_settings(settings, budget="redis://:pw@127.0.0.1:6379/0")
    assert given.budget == "redis://:pw@127.0.0.1:6379/0"
    assert given.settings([])["budget"] == "redis://:***@127.0.0.1:6379/0"
    settings["budget"] = "redis://127.0.0.1:6379/0"  # no password: recorded as it was
    assert RunOptions.from_settings(settings).budget == "redis://127.0.0.1:6379/0"


def test_without_a_budget_nothing_of_redis_is_loaded() -> None:
    code = (
        "import sys, bulkupdate, bulkupdate.runs.run_command, bulkupdate.engine.pipeline;"
        "import bulkupdate.budget;"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'redis'], 'redis loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_a_rediss_url_shares_the_budget_over_tls(tmp_path: Path) -> None:
    tls = RedisServer(tmp_path, tls=True)
    try:
        async with budget(tls.url) as one, budget(tls.url) as two:
            await one.run_slots().acquire()
            await two.run_slots().acquire()
            assert await one.pace.reserve(0.1) < 0.01
            assert await two.pace.reserve(0.1) > 0.05  # the same grid, over TLS
            assert two.leases.leased_by_all is None
            await two.leases.sync()
            assert two.leases.leased_by_all == 2
        plain = tls.url.replace("rediss://", "redis://").partition("?")[0]
        with pytest.raises(UsageError, match="cannot be reached"):
            await budget(plain).__aenter__()  # a TLS port does not answer plain Redis
    finally:
        tls.stop()
