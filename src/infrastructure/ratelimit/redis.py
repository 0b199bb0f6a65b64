"""The `limits` storages on Redis, shared by every instance of the service: one server, or the
master that Redis Sentinels name."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, cast
from urllib.parse import urlsplit

import redis.asyncio
from limits.aio.storage import RedisSentinelStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge

DEFAULT_KEY_PREFIX: Final = "authsvc"
CONNECT_TIMEOUT_SECONDS: Final = 2
COMMAND_TIMEOUT_SECONDS: Final = 2
HEALTH_CHECK_INTERVAL_SECONDS: Final = 30
SENTINEL_SCHEME: Final = "redis+sentinel"
"""`redis+sentinel://host:port,host:port/master-name` names the Sentinels and the master
they watch; redis://, rediss:// and unix:// name one server."""


@asynccontextmanager
async def redis_storage(
    url: str, *, key_prefix: str = DEFAULT_KEY_PREFIX
) -> AsyncIterator[RedisStorage]:
    """A storage on its own client, with timeouts short enough to answer a login quickly, and
    its keys under `key_prefix:`; the client is closed on leaving."""
    timeouts: dict[str, float | str | bool] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": COMMAND_TIMEOUT_SECONDS,
    }
    options: dict[str, Any] = {
        "wrap_exceptions": True,
        "implementation": "redispy",
        "key_prefix": key_prefix,
        **timeouts,
    }
    scheme = urlsplit(url).scheme
    storage: RedisStorage
    if scheme == SENTINEL_SCHEME:
        # Counts are read back right after they are written: only the master has them.
        storage = RedisSentinelStorage(
            f"async+{url}", use_replicas=False, sentinel_kwargs=timeouts, **options
        )
    else:
        # limits names its storages `async+` the scheme, and a UNIX socket `redis+unix`.
        server = f"redis+{url}" if scheme == "unix" else url
        storage = RedisStorage(
            f"async+{server}", health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS, **options
        )
    try:
        yield storage
    finally:
        # limits has no way to close its clients: close the ones it made for the storage.
        bridge = cast(RedispyBridge, storage.bridge)
        client = cast(redis.asyncio.Redis, bridge.get_connection())
        await client.aclose(close_connection_pool=True)
        for sentinel in getattr(getattr(bridge, "sentinel", None), "sentinels", ()):
            await sentinel.aclose()
