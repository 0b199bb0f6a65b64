"""Fixed-window counters in Redis, shared by every instance of the service."""

import hashlib
import math
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, Final

import redis.asyncio
from redis.exceptions import RedisError

from application.ports import RateLimiter
from domain.errors import StorageUnavailable

DEFAULT_KEY_PREFIX: Final = "authsvc:rl:"
CONNECT_TIMEOUT_SECONDS: Final = 2
COMMAND_TIMEOUT_SECONDS: Final = 2
HEALTH_CHECK_INTERVAL_SECONDS: Final = 30

_CONSUME: Final = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
"""Counts an event and starts the window on the key's first one, in one step: no crash can
leave a counter without its expiry (a counter found without one gets it here)."""

_PEEK: Final = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
"""
"""The count and the milliseconds left in its window, read together."""


class RedisRateLimiter(RateLimiter):
    """Counts per key in Redis; the window is the key's expiry, set by its first event.

    Keys are stored as `prefix + sha256(key)`: the emails inside keys never reach Redis, and
    every stored key has the same short length.

    Failure policy: any Redis error (unreachable, timed out, refused) raises StorageUnavailable
    (503), never a silent pass. Failing open would switch throttling off exactly when an
    attacker can make Redis slow, and failing closed with 429 would blame the client."""

    def __init__(self, client: redis.asyncio.Redis, key_prefix: str = DEFAULT_KEY_PREFIX) -> None:
        self._client = client
        self._key_prefix = key_prefix
        self._consume = client.register_script(_CONSUME)
        self._peek = client.register_script(_PEEK)

    async def consume(self, key: str, *, limit: int, window: timedelta) -> int | None:
        window_ms = max(1, window // timedelta(milliseconds=1))
        count, ttl_ms = await _translated(self._consume(keys=[self._stored(key)], args=[window_ms]))
        if count <= limit:
            return None
        return _whole_seconds(ttl_ms)

    async def blocked_for(self, key: str, *, limit: int, window: timedelta) -> int | None:
        count, ttl_ms = await _translated(self._peek(keys=[self._stored(key)]))
        if count < limit:
            return None
        return _whole_seconds(ttl_ms)

    async def reset(self, key: str) -> None:
        await _translated(self._client.delete(self._stored(key)))

    async def aclose(self) -> None:
        await self._client.aclose()

    def _stored(self, key: str) -> str:
        return self._key_prefix + hashlib.sha256(key.encode()).hexdigest()


def create_redis_rate_limiter(
    url: str, *, key_prefix: str = DEFAULT_KEY_PREFIX
) -> RedisRateLimiter:
    """A limiter on its own client, with timeouts short enough to answer a login quickly."""
    client = redis.asyncio.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
    )
    return RedisRateLimiter(client, key_prefix)


async def _translated(command: Awaitable[Any]) -> Any:
    try:
        return await command
    except RedisError as error:
        raise StorageUnavailable from error


def _whole_seconds(ttl_ms: int) -> int:
    return max(1, math.ceil(ttl_ms / 1000))
