"""SQLAlchemy's engines, on MySQL and SQLite: for the migrations and for tools that speak plain
SQL, and on SQLite for the service itself (sqlite.py). On MySQL the service runs on mysql.py.

Database errors never leave through `storage_errors()` as SQLAlchemy exceptions: a lost or
unreachable database becomes StorageUnavailable, and anything else (a bug, not an outage) a
RuntimeError chained to its cause.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from domain.errors import StorageUnavailable
from infrastructure.database_urls import MYSQL_BACKENDS
from infrastructure.persistence.connections import (
    MYSQL_CONNECT_TIMEOUT_SECONDS,
    MYSQL_READ_TIMEOUT_SECONDS,
    SQLITE_TIMEOUT_SECONDS,
)
from infrastructure.private_files import create_private_file


def create_engine(url: str, *, timeout_seconds: float | None = None) -> AsyncEngine:
    """An engine for a `mysql+asyncmy://` (or `mariadb+asyncmy://`) or `sqlite+aiosqlite://` URL.

    The defaults make an unreachable or hung database fail quickly instead of hanging.
    `timeout_seconds` replaces the wait for each read from MySQL, and on SQLite the waits for
    a pooled connection and for the write lock (the TCP connect stays short): raise it for
    long migrations."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in MYSQL_BACKENDS:
        return _mysql_engine(parsed, timeout_seconds or MYSQL_READ_TIMEOUT_SECONDS)
    if backend == "sqlite":
        return open_sqlite(parsed, timeout_seconds or SQLITE_TIMEOUT_SECONDS)
    raise ValueError(f"unsupported database {parsed.drivername!r}: use MySQL or SQLite")


def _mysql_engine(url: URL, read_timeout: float) -> AsyncEngine:
    """For migrations and tools, which connect now and then: no pool, a connection each time."""
    return create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "charset": "utf8mb4",
            # connect_timeout covers the TCP connect only; read_timeout covers the handshake
            # and every reply, so a server that accepts and never answers cannot hang a tool.
            "connect_timeout": min(MYSQL_CONNECT_TIMEOUT_SECONDS, read_timeout),
            "read_timeout": read_timeout,
            # TIMESTAMP columns convert from and to the session time zone: make it UTC.
            "init_command": "SET time_zone = '+00:00'",
        },
    )


def open_sqlite(url: URL, timeout_seconds: float) -> AsyncEngine:
    """Where every SQLite database of the service is opened, the service's and the tools'."""
    database = url.database or ":memory:"
    if database == ":memory:":
        # The one connection is the whole database: units of work take turns on it, instead
        # of sharing it (and each other's transactions) as SQLAlchemy's default pool would.
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout_seconds,
        )
    else:
        if not database.startswith("file:"):
            create_private_file(Path(database))
        engine = create_async_engine(url, pool_timeout=timeout_seconds)
    busy_timeout_ms = int(timeout_seconds * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def configure_connection(dbapi_connection: Any, _: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.close()

    return engine


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turns an outage into StorageUnavailable and any other database error into a RuntimeError,
    so that no SQLAlchemy or driver exception reaches the use cases."""
    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeoutError, OSError) as error:
        raise StorageUnavailable from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise StorageUnavailable from error
        raise RuntimeError(f"database error ({type(error).__name__})") from error
    except SQLAlchemyError as error:
        raise RuntimeError(f"database error ({type(error).__name__})") from error
