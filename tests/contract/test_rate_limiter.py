"""The RateLimiter contract, in process and on Redis.

Redis: `TEST_REDIS_URL` names the server (default `redis://127.0.0.1:6379/15`). Each test
works under its own random key prefix and deletes only those keys. When the server cannot be
reached the Redis tests are skipped with the reason, or fail when `REQUIRE_REDIS=1`. The
in-process limiter reads an injected clock; on Redis time really passes, so the one test
that needs a window to end uses a window of one second."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from application.ports import RateLimiter
from domain.errors import StorageUnavailable
from infrastructure.ratelimit.memory import InMemoryRateLimiter
from infrastructure.ratelimit.redis import create_redis_rate_limiter
from tests.databases import redis_namespace

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
LIMIT = 3
WINDOW = timedelta(minutes=15)
SHORT_WINDOW = timedelta(seconds=1)
EMAIL_KEY = "login:ada@example.com"


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


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
        clock = FakeClock()

        async def move_clock(duration: timedelta) -> None:
            clock.seconds += duration.total_seconds()

        yield Subject(InMemoryRateLimiter(now=clock), move_clock)
        return

    async def sleep(duration: timedelta) -> None:
        await asyncio.sleep(duration.total_seconds())

    async with redis_namespace() as namespace:
        limiter = create_redis_rate_limiter(namespace.url, key_prefix=namespace.key_prefix)
        try:
            yield Subject(limiter, sleep)
        finally:
            await limiter.aclose()


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


async def test_blocked_for_answers_once_limit_events_are_counted(subject: Subject) -> None:
    limiter = subject.limiter
    assert await limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW) is None

    await consume_times(limiter, EMAIL_KEY, LIMIT - 1)
    assert await limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW) is None

    await consume_times(limiter, EMAIL_KEY, 1)
    assert_seconds_left(await limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW))


async def test_blocked_for_does_not_count(subject: Subject) -> None:
    for _ in range(LIMIT * 2):
        await subject.limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert await consume_times(subject.limiter, EMAIL_KEY, LIMIT) == [None] * LIMIT


async def test_reset_clears_the_count(subject: Subject) -> None:
    limiter = subject.limiter
    await consume_times(limiter, EMAIL_KEY, LIMIT + 1)

    await limiter.reset(EMAIL_KEY)

    assert await limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW) is None
    assert await consume_times(limiter, EMAIL_KEY, LIMIT) == [None] * LIMIT


async def test_reset_of_an_unknown_key_does_nothing(subject: Subject) -> None:
    await subject.limiter.reset("login:nobody@example.com")

    assert await consume_times(subject.limiter, "login:nobody@example.com", 1) == [None]


async def test_keys_are_counted_apart(subject: Subject) -> None:
    limiter = subject.limiter
    await consume_times(limiter, EMAIL_KEY, LIMIT + 1)

    assert await limiter.blocked_for("login:grace@example.com", limit=LIMIT, window=WINDOW) is None
    assert await consume_times(limiter, "login:grace@example.com", LIMIT) == [None] * LIMIT


async def test_the_window_runs_from_the_first_event_and_then_lets_events_through(
    subject: Subject,
) -> None:
    limiter = subject.limiter
    assert await limiter.consume(EMAIL_KEY, limit=1, window=SHORT_WINDOW) is None
    await subject.let_time_pass(SHORT_WINDOW / 2)
    assert await limiter.consume(EMAIL_KEY, limit=1, window=SHORT_WINDOW) == 1

    await subject.let_time_pass(SHORT_WINDOW / 2 + timedelta(milliseconds=100))

    assert await limiter.blocked_for(EMAIL_KEY, limit=1, window=SHORT_WINDOW) is None
    assert await limiter.consume(EMAIL_KEY, limit=1, window=SHORT_WINDOW) is None


async def test_concurrent_events_are_each_counted_once(subject: Subject) -> None:
    limiter = subject.limiter

    results = await asyncio.gather(
        *(limiter.consume(EMAIL_KEY, limit=10, window=WINDOW) for _ in range(50))
    )

    assert results.count(None) == 10
    assert await limiter.blocked_for(EMAIL_KEY, limit=50, window=WINDOW) is not None
    assert await limiter.blocked_for(EMAIL_KEY, limit=51, window=WINDOW) is None


@pytest.mark.redis
async def test_redis_keys_hide_the_emails_in_them() -> None:
    async with redis_namespace() as namespace:
        limiter = create_redis_rate_limiter(namespace.url, key_prefix=namespace.key_prefix)
        try:
            await limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW)
        finally:
            await limiter.aclose()

        keys = [key async for key in namespace.client.scan_iter(match=f"{namespace.key_prefix}*")]

    assert len(keys) == 1
    assert b"ada@example.com" not in keys[0]
    assert len(keys[0]) == len(namespace.key_prefix) + 64


async def test_unreachable_redis_raises_storage_unavailable_quickly() -> None:
    limiter = create_redis_rate_limiter("redis://127.0.0.1:1/0")
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable):
            await limiter.consume(EMAIL_KEY, limit=LIMIT, window=WINDOW)
        with pytest.raises(StorageUnavailable):
            await limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW)
        with pytest.raises(StorageUnavailable):
            await limiter.reset(EMAIL_KEY)
    finally:
        await limiter.aclose()

    assert time.monotonic() - started < 3


async def test_in_memory_limiter_drops_keys_whose_window_ended() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(now=clock)
    for number in range(1000):
        await limiter.consume(f"login:spray{number}@example.com", limit=LIMIT, window=WINDOW)
    assert len(limiter) == 1000

    clock.seconds += WINDOW.total_seconds()
    await limiter.blocked_for(EMAIL_KEY, limit=LIMIT, window=WINDOW)

    assert len(limiter) == 0


async def test_in_memory_window_started_after_a_reset_outlives_the_old_one() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(now=clock)
    await limiter.consume(EMAIL_KEY, limit=1, window=timedelta(seconds=10))
    await limiter.reset(EMAIL_KEY)
    clock.seconds += 5
    await limiter.consume(EMAIL_KEY, limit=1, window=timedelta(seconds=10))

    clock.seconds += 6

    assert await limiter.blocked_for(EMAIL_KEY, limit=1, window=timedelta(seconds=10)) == 4
