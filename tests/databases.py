"""Fresh, empty databases for the tests that need a real one, handed out as URLs.

MySQL: `TEST_MYSQL_URL` names the server (default `mysql+asyncmy://root:@127.0.0.1:3306/test`).
Each database made here has a unique name and utf8mb4, and is dropped afterwards, so suites
never see each other's rows. When the server cannot be reached the test is skipped with the
reason, or fails when `REQUIRE_MYSQL=1` (as in CI). SQLite: a file in the test's `tmp_path`.

A suite's conftest turns this into a fixture parametrized over both databases; the URL is a
plain string, so the code under test builds its own engine in its own event loop:

    from tests.databases import DATABASES, fresh_database

    @pytest.fixture(params=DATABASES)
    async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
        async with fresh_database(request.param, tmp_path) as url:
            yield url

Unless the test is about migrations, bring the database to head with `await migrated(url)`.
`fresh_mysql_database()` and `sqlite_url(directory)` serve the cases that need one kind only;
`require_mysql(mysql_server_url())` just skips without a server.

Redis: `TEST_REDIS_URL` (default `redis://127.0.0.1:6379/15`), skipped or failed the same way
under `REQUIRE_REDIS=1`; `redis_namespace()` hands a test a key prefix of its own.

`NODE_USERS_TABLE` is the original Node service's schema, for the tests of adopting its
databases.
"""

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import redis.asyncio
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.migrate import upgrade_database

DEFAULT_TEST_MYSQL_URL = "mysql+asyncmy://root:@127.0.0.1:3306/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
MYSQL_CONNECT_TIMEOUT_SECONDS = 3
TEST_DATABASE_PREFIX = "authsvc_test_"

Database = Literal["sqlite", "mysql"]
DATABASES = (
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
)
"""Fixture params: every database the service runs on, MySQL marked `mysql`."""

_mysql_unreachable: dict[str, str | None] = {}
"""Per server URL: why it could not be reached, or None once it was; asked once per run."""


def mysql_server_url() -> URL:
    """The server of `TEST_MYSQL_URL`; its database part is ignored."""
    return make_url(os.environ.get("TEST_MYSQL_URL", DEFAULT_TEST_MYSQL_URL))


SQLITE_FILE = "authsvc.db"
"""The name of the database file in the directory of `sqlite_url(directory)`."""


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / SQLITE_FILE}"


def _server_engine(server: URL) -> AsyncEngine:
    """An engine on the MySQL server itself, with no database selected, for CREATE and DROP."""
    return create_async_engine(
        server.set(database=None),
        poolclass=NullPool,
        connect_args={
            "connect_timeout": MYSQL_CONNECT_TIMEOUT_SECONDS,
            "read_timeout": MYSQL_CONNECT_TIMEOUT_SECONDS,
        },
    )


async def require_mysql(server: URL) -> None:
    """Skips the test (or fails it under REQUIRE_MYSQL=1) unless the MySQL server answers."""
    key = server.render_as_string(hide_password=False)
    if key not in _mysql_unreachable:
        engine = _server_engine(server)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            _mysql_unreachable[key] = None
        except Exception as error:  # any failure to reach it is a reason to skip
            _mysql_unreachable[key] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        finally:
            await engine.dispose()
    reason = _mysql_unreachable[key]
    if reason is not None:
        message = f"MySQL unreachable at {server.render_as_string()}: {reason}"
        if os.environ.get("REQUIRE_MYSQL") == "1":
            pytest.fail(message)
        pytest.skip(message)


async def migrated(url: str) -> str:
    """The database of `url` brought to the head revision; the URL again."""
    engine = create_engine(url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()
    return url


@asynccontextmanager
async def fresh_mysql_database(server: URL | None = None) -> AsyncIterator[str]:
    """A new, empty utf8mb4 database on the test server, dropped on leaving."""
    server = server or mysql_server_url()
    await require_mysql(server)
    name = f"{TEST_DATABASE_PREFIX}{secrets.token_hex(6)}"
    engine = _server_engine(server)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with engine.begin() as connection:
                await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_database(database: Database, tmp_path: Path) -> AsyncIterator[str]:
    if database == "mysql":
        async with fresh_mysql_database() as url:
            yield url
    else:
        yield sqlite_url(tmp_path)


NODE_USERS_TABLE = """CREATE TABLE users (
id INT AUTO_INCREMENT PRIMARY KEY,
name VARCHAR(100),
email VARCHAR(100) UNIQUE,
password VARCHAR(255),
bio TEXT,
contact VARCHAR(20),
refreshToken VARCHAR(255),
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)"""
"""The original service's schema, exactly as its README creates it (MySQL)."""


def redis_server_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


@asynccontextmanager
async def reachable_redis() -> AsyncIterator[redis.asyncio.Redis]:
    """A client of the test Redis; skips, or fails under REQUIRE_REDIS=1, when it does not
    answer."""
    url = redis_server_url()
    client = redis.asyncio.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        try:
            await client.ping()
        except RedisError as error:
            message = f"Redis unreachable at {url}: {type(error).__name__}: {error}"
            if os.environ.get("REQUIRE_REDIS") == "1":
                pytest.fail(message)
            pytest.skip(message)
        yield client
    finally:
        await client.aclose()


async def delete_keys(client: redis.asyncio.Redis, pattern: str) -> None:
    keys = [key async for key in client.scan_iter(match=pattern)]
    if keys:
        await client.delete(*keys)


@dataclass(frozen=True, slots=True)
class RedisNamespace:
    url: str
    key_prefix: str
    client: redis.asyncio.Redis


@asynccontextmanager
async def redis_namespace() -> AsyncIterator[RedisNamespace]:
    """A random key prefix on the test server (a REDIS_KEY_PREFIX: keys start with it and a
    colon), its keys deleted on leaving."""
    async with reachable_redis() as client:
        key_prefix = f"authsvc-test-{secrets.token_hex(8)}"
        try:
            yield RedisNamespace(redis_server_url(), key_prefix, client)
        finally:
            await delete_keys(client, f"{key_prefix}:*")
