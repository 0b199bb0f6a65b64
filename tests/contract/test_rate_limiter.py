"""The RateLimiter contract, in process and on Redis.

Redis: `TEST_REDIS_URL` names the server (default `redis://127.0.0.1:6379/15`). Each test
works under its own random key prefix and deletes only those keys. When the server cannot be
reached the Redis tests are skipped with the reason, or fail when `REQUIRE_REDIS=1`. The
in-process limiter reads a clock the test moves; on Redis time really passes, so the one test
that needs a window to end uses a window of one second (limits' finest). Redis Sentinel: a
master and a Sentinel of the test's own, started with redis-server."""

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from redis.exceptions import RedisError

from application.ports import RateLimiter
from domain.errors import StorageUnavailable
from infrastructure.ratelimit.fixed_window import FixedWindowLimiter
from infrastructure.ratelimit.memory import InMemoryStorage
from infrastructure.ratelimit.redis import redis_storage
from infrastructure.security.clock import SystemClock
from tests.databases import redis_namespace
from tests.fakes import FixedClock

LIMIT = 3
WINDOW = timedelta(minutes=15)
SHORT_WINDOW = timedelta(seconds=1)
EMAIL_KEY = "login:ada@example.com"


@dataclass(frozen=True, slots=True)
class Subject:
    limiter: RateLimiter
    let_time_pass: Callable[[timedelta], Awaitable[None]]


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        clock = FixedClock()

        async def move_clock(duration: timedelta) -> None:
            clock.advance(duration)

        yield Subject(FixedWindowLimiter(InMemoryStorage(clock), clock), move_clock)
        return

    async def sleep(duration: timedelta) -> None:
        await asyncio.sleep(duration.total_seconds())

    async with (
        redis_namespace() as namespace,
        redis_storage(namespace.url, key_prefix=namespace.key_prefix) as storage,
    ):
        yield Subject(FixedWindowLimiter(storage, SystemClock()), sleep)


async def consume_times(limiter: RateLimiter, key: str, times: int) -> list[int | None]:
    return [await limiter.consume(key, limit=LIMIT, window=WINDOW) for _ in range(times)]


def assert_seconds_left(retry_after: int | None, window: timedelta = WINDOW) -> None:
    assert isinstance(retry_after, int)
    assert window.total_seconds() - 5 <= retry_after <= window.total_seconds()


async def test_events_within_the_limit_pass(subject: Subject) -> None:
    assert await consume_times(subject.limiter, EMAIL_KEY, LIMIT) == [None] * LIMIT


async def test_an_event_over_the_limit_gets_the_seconds_left_in_the_window(
    subject: Subject,
) -> None:
    await consume_times(subject.limiter, EMAIL_KEY, LIMIT)

    retry_after = await subject.limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert_seconds_left(retry_after)


async def test_reset_clears_the_count(subject: Subject) -> None:
    limiter = subject.limiter
    await consume_times(limiter, EMAIL_KEY, LIMIT + 1)

    await limiter.reset(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert await consume_times(limiter, EMAIL_KEY, LIMIT) == [None] * LIMIT


async def test_reset_of_an_unknown_key_does_nothing(subject: Subject) -> None:
    await subject.limiter.reset("login:nobody@example.com", limit=LIMIT, window=WINDOW)

    assert await consume_times(subject.limiter, "login:nobody@example.com", 1) == [None]


async def test_keys_are_counted_apart(subject: Subject) -> None:
    limiter = subject.limiter
    await consume_times(limiter, EMAIL_KEY, LIMIT + 1)

    assert await consume_times(limiter, "login:grace@example.com", LIMIT) == [None] * LIMIT


async def test_the_window_runs_from_the_first_event_and_then_lets_events_through(
    subject: Subject,
) -> None:
    limiter = subject.limiter
    assert await limiter.consume(EMAIL_KEY, limit=1, window=SHORT_WINDOW) is None
    await subject.let_time_pass(SHORT_WINDOW / 2)
    assert await limiter.consume(EMAIL_KEY, limit=1, window=SHORT_WINDOW) == 1

    await subject.let_time_pass(SHORT_WINDOW / 2 + timedelta(milliseconds=100))

    assert await limiter.consume(EMAIL_KEY, limit=1, window=SHORT_WINDOW) is None


async def test_concurrent_events_are_each_counted_once(subject: Subject) -> None:
    limiter = subject.limiter

    results = await asyncio.gather(
        *(limiter.consume(EMAIL_KEY, limit=10, window=WINDOW) for _ in range(50))
    )

    assert results.count(None) == 10


@pytest.mark.redis
async def test_redis_keys_start_with_the_prefix_and_hide_the_emails_in_them() -> None:
    async with redis_namespace() as namespace:
        async with redis_storage(namespace.url, key_prefix=namespace.key_prefix) as storage:
            await FixedWindowLimiter(storage, SystemClock()).consume(
                EMAIL_KEY, limit=LIMIT, window=WINDOW
            )

        keys = [key async for key in namespace.client.scan_iter(match=f"{namespace.key_prefix}:*")]

    assert len(keys) == 1
    assert b"ada@example.com" not in keys[0]


async def test_unreachable_redis_raises_storage_unavailable_quickly() -> None:
    started = time.monotonic()
    async with redis_storage("redis://127.0.0.1:1/0") as storage:
        limiter = FixedWindowLimiter(storage, SystemClock())
        with pytest.raises(StorageUnavailable):
            await limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW)
        with pytest.raises(StorageUnavailable):
            await limiter.reset(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert time.monotonic() - started < 3


async def test_in_memory_limiter_drops_keys_whose_window_ended() -> None:
    clock = FixedClock()
    storage = InMemoryStorage(clock)
    limiter = FixedWindowLimiter(storage, clock)
    for number in range(1000):
        await limiter.consume(f"login:spray{number}@example.com", limit=LIMIT, window=WINDOW)
    assert len(storage) == 1000

    clock.advance(WINDOW)
    await limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert len(storage) == 1


async def test_in_memory_window_started_after_a_reset_outlives_the_old_one() -> None:
    clock = FixedClock()
    limiter = FixedWindowLimiter(InMemoryStorage(clock), clock)
    window = timedelta(seconds=10)
    await limiter.consume(EMAIL_KEY, limit=1, window=window)
    await limiter.reset(EMAIL_KEY, limit=1, window=window)
    clock.advance(timedelta(seconds=5))
    await limiter.consume(EMAIL_KEY, limit=1, window=window)

    clock.advance(timedelta(seconds=6))

    assert await limiter.consume(EMAIL_KEY, limit=1, window=window) == 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls `condition` until it holds, for at most 20 s: for processes to start and for
    Sentinel to act, not to wait out a rate-limit window."""
    for _ in range(400):
        if await condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


async def ask(port: int, *command: str) -> Any:
    """One command to the Redis server or Sentinel on `port`; None when it errs."""
    client = redis.asyncio.Redis(port=port, socket_connect_timeout=1, decode_responses=True)
    try:
        return await client.execute_command(*command)
    except RedisError:
        return None
    finally:
        await client.aclose()


@dataclass(frozen=True, slots=True)
class SentinelSetup:
    url: str
    """REDIS_URL naming the Sentinel and the master name it watches."""
    master_port: int
    replica_port: int
    sentinel_port: int


@pytest.fixture
async def sentinel(tmp_path: Path) -> AsyncIterator[SentinelSetup]:
    """A Redis master, its replica and one Sentinel watching them as `authsvc-test`, on free
    loopback ports, started for the test and stopped after it (with redis-server, which CI
    runs Redis with)."""
    server = shutil.which("redis-server")
    if server is None:
        message = "redis-server is not installed"
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    master, replica, sentinel = free_port(), free_port(), free_port()
    config = tmp_path / "sentinel.conf"  # a Sentinel rewrites its configuration file
    config.write_text(f"sentinel monitor authsvc-test 127.0.0.1 {master} 1\n")
    processes = []

    async def start(*arguments: str) -> None:
        processes.append(await asyncio.create_subprocess_exec(server, *arguments))

    common = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
    try:
        await start(
            "--port", str(master), *common, "--dir", str(tmp_path),
            "--repl-diskless-sync-delay", "0",  # the replica syncs at once, not after 5 s
        )  # fmt: skip
        (tmp_path / "replica").mkdir()
        await start(
            "--port", str(replica), *common, "--dir", str(tmp_path / "replica"),
            "--replicaof", "127.0.0.1", str(master),
        )  # fmt: skip

        async def replica_in_sync() -> bool:
            info = await ask(replica, "INFO", "replication")
            return info is not None and info.get("master_link_status") == "up"

        await eventually(replica_in_sync, "the replica to sync")
        await start(str(config), "--sentinel", "--port", str(sentinel))
        await eventually(lambda: answers_ping(sentinel), "the Sentinel to start")
        yield SentinelSetup(
            f"redis+sentinel://127.0.0.1:{sentinel}/authsvc-test", master, replica, sentinel
        )
    finally:
        for process in processes:
            process.terminate()
            await process.wait()


async def answers_ping(port: int) -> bool:
    return bool(await ask(port, "PING"))


async def test_redis_sentinel_names_the_master_that_keeps_the_counts(
    sentinel: SentinelSetup,
) -> None:
    async with redis_storage(sentinel.url, key_prefix="sentinel-test") as storage:
        limiter = FixedWindowLimiter(storage, SystemClock())

        counted = await consume_times(limiter, EMAIL_KEY, LIMIT + 1)

    assert counted[:LIMIT] == [None] * LIMIT
    assert_seconds_left(counted[LIMIT])
    master = redis.asyncio.Redis(port=sentinel.master_port)
    try:
        assert len([key async for key in master.scan_iter(match="sentinel-test:*")]) == 1
    finally:
        await master.aclose()


async def test_counts_outlive_a_sentinel_fail_over_and_no_event_passes_uncounted(
    sentinel: SentinelSetup,
) -> None:
    async with redis_storage(sentinel.url, key_prefix="sentinel-test") as storage:
        limiter = FixedWindowLimiter(storage, SystemClock())
        assert await consume_times(limiter, EMAIL_KEY, LIMIT - 1) == [None] * (LIMIT - 1)
        assert await ask(sentinel.master_port, "WAIT", "1", "5000") == 1  # on the replica too

        async def failed_over() -> bool:
            await ask(sentinel.sentinel_port, "SENTINEL", "FAILOVER", "authsvc-test")
            master = await ask(
                sentinel.sentinel_port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "authsvc-test"
            )
            return master is not None and int(master[1]) == sentinel.replica_port

        await eventually(failed_over, "Sentinel to promote the replica")
        outcomes: list[object] = []

        async def counted_on_the_new_master() -> bool:
            try:
                outcomes.append(await limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW))
            except StorageUnavailable as unavailable:  # fails closed during the switch
                outcomes.append(unavailable)
            return not isinstance(outcomes[-1], StorageUnavailable)

        await eventually(counted_on_the_new_master, "the limiter to reach the new master")
        over_the_limit = await limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert outcomes[-1] is None  # the last event the limit allows: the first two were kept
    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes[:-1])
    assert_seconds_left(over_the_limit)
