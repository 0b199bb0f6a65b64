"""The RateLimiter port on the `limits` library's fixed window strategy, over any of its
async storages: in process (`InMemoryStorage`), Redis or Redis Sentinel."""

import functools
import hashlib
import math
from datetime import timedelta

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from application.ports import Clock, RateLimiter
from domain.errors import StorageUnavailable


class FixedWindowLimiter(RateLimiter):
    """Counts per key in a window that starts with the key's first event.

    A key reaches the storage as the SHA-256 of the key given: the emails inside keys never
    reach Redis, and every stored key has the same short length.

    Failure policy: any storage error (Redis unreachable, timed out, refused) raises
    StorageUnavailable (503), never a silent pass. Failing open would switch throttling off
    exactly when an attacker can make Redis slow, and failing closed with 429 would blame the
    client. The storage must therefore be made with `wrap_exceptions=True`."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._strategy = FixedWindowRateLimiter(storage)
        self._clock = clock

    async def consume(self, key: str, *, limit: int, window: timedelta) -> int | None:
        rate, stored_key = _rate(limit, window), _stored(key)
        try:
            # limits' fixed window increments first and compares after, in one atomic step on
            # every storage (a Lua script on Redis): concurrent events cannot slip past.
            if await self._strategy.hit(rate, stored_key):
                return None
            ends_at, _ = await self._strategy.get_window_stats(rate, stored_key)
        except StorageError as error:
            raise StorageUnavailable from error
        # limits states the end of a window as Unix time.
        return max(1, math.ceil(ends_at - self._clock.now().timestamp()))

    async def reset(self, key: str, *, limit: int, window: timedelta) -> None:
        try:
            await self._strategy.clear(_rate(limit, window), _stored(key))
        except StorageError as error:
            raise StorageUnavailable from error


@functools.cache  # a handful of (limit, window) pairs, asked for on every request
def _rate(limit: int, window: timedelta) -> RateLimitItemPerSecond:
    """`limit` events per `window`, in whole seconds (limits' finest granularity)."""
    return RateLimitItemPerSecond(limit, max(1, math.ceil(window.total_seconds())))


def _stored(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
