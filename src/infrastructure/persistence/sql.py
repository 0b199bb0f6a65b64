"""SQLAlchemy's engine, on MySQL and SQLite, for the migrations and for tools that speak plain
SQL; and the service's repositories and unit of work on SQLite, in SQLAlchemy Core. On MySQL
the service runs on mysql.py, at about a tenth of the CPU per unit of work.

A unit of work holds one pooled connection. A write outside `transaction()` is committed as
soon as it succeeds, and undone at once if it fails. Database errors never leave this module as
SQLAlchemy exceptions: a duplicate email becomes EmailAlreadyRegistered, a lost or unreachable
database StorageUnavailable, and anything else (a bug, not an outage) a RuntimeError chained to
its cause.

On SQLite a transaction takes the write lock at its first write, not at its first read, so
read-only units of work never wait for writers; writers queue behind each other for up to the
busy timeout. The compare-and-swap of `rotate` needs nothing more.
"""

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, Final, ParamSpec, Self, TypeVar

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    event,
    exists,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import delete as delete_from
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool
from sqlalchemy.sql.dml import UpdateBase

from application.ports import SessionRepository, UnitOfWork, UserRepository
from domain.errors import EmailAlreadyRegistered, StorageUnavailable, UserNotFound
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, ProfileChanges, User
from infrastructure.persistence.mysql import (
    MYSQL_BACKENDS,
    MYSQL_CONNECT_TIMEOUT_SECONDS,
    MYSQL_READ_TIMEOUT_SECONDS,
)
from infrastructure.persistence.rows import session_from_row, session_row, user_from_row
from infrastructure.persistence.tables import sessions, users
from infrastructure.private_files import create_private_file

SQLITE_TIMEOUT_SECONDS: Final = 5.0
"""Waiting for SQLite's write lock (busy timeout) and for a pooled connection."""


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
        return _sqlite_engine(parsed, timeout_seconds or SQLITE_TIMEOUT_SECONDS)
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


def _sqlite_engine(url: URL, timeout_seconds: float) -> AsyncEngine:
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


def _is_duplicate_key(error: IntegrityError) -> bool:
    return "UNIQUE constraint failed" in str(error.orig)


def _is_missing_referenced_row(error: IntegrityError) -> bool:
    return "FOREIGN KEY constraint failed" in str(error.orig)


P = ParamSpec("P")
T = TypeVar("T")
Repository = TypeVar("Repository", bound="_SqlRepository")


def _translating_errors(
    method: Callable[Concatenate[Repository, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Repository, P], Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def translated(self: Repository, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with storage_errors():
            return await method(self, *args, **kwargs)

    return translated


class _SqlRepository:
    def __init__(self, unit: "SqlUnitOfWork") -> None:
        self._unit = unit

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        return await self._unit.execute(statement)


class SqlUserRepository(_SqlRepository, UserRepository):
    @_translating_errors
    async def add(self, user: NewUser) -> User:
        """`created_at` is kept to the second, as the original TIMESTAMP column keeps it."""
        created_at = user.created_at.replace(microsecond=0)
        statement = insert(users).values(
            name=user.name,
            email=user.email.value,
            password=user.password_hash.value,
            created_at=created_at,
        )
        try:
            result = await self._execute(statement)
        except IntegrityError as error:
            if _is_duplicate_key(error):
                raise EmailAlreadyRegistered from None
            raise
        return User(
            id=result.lastrowid,
            name=user.name,
            email=user.email,
            password_hash=user.password_hash,
            created_at=created_at,
        )

    @_translating_errors
    async def get(self, user_id: int) -> User | None:
        row = (await self._execute(select(users).where(users.c.id == user_id))).first()
        return user_from_row(row) if row else None

    @_translating_errors
    async def get_by_email(self, email: Email) -> User | None:
        row = (await self._execute(select(users).where(users.c.email == email.value))).first()
        return user_from_row(row) if row else None

    @_translating_errors
    async def update_profile(
        self, user_id: int, changes: ProfileChanges, *, session_id: str, now: datetime
    ) -> User | None:
        """One UPDATE of the changed columns only, so a concurrent edit of another survives.
        It matches no row unless the session is active."""
        active_session = exists().where(
            sessions.c.id == session_id, sessions.c.user_id == users.c.id, *_active_at(now)
        )
        statement = (
            update(users).where(users.c.id == user_id, active_session).values(**changes.as_dict())
        )
        result = await self._execute(statement)
        return await self.get(user_id) if result.rowcount == 1 else None

    @_translating_errors
    async def set_password_hash(self, user_id: int, password_hash: PasswordHash) -> None:
        await self._execute(
            update(users).where(users.c.id == user_id).values(password=password_hash.value)
        )

    @_translating_errors
    async def delete(self, user_id: int) -> bool:
        """The user's sessions go with the row, by ON DELETE CASCADE."""
        result = await self._execute(delete_from(users).where(users.c.id == user_id))
        return result.rowcount == 1

    @_translating_errors
    async def list(self, after_id: int, limit: int) -> list[User]:
        """Keyset pagination on the primary key: any page costs as little as the first."""
        statement = select(users).where(users.c.id > after_id).order_by(users.c.id).limit(limit)
        return [user_from_row(row) for row in await self._execute(statement)]


def _active_at(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)


class SqlSessionRepository(_SqlRepository, SessionRepository):
    @_translating_errors
    async def add(self, session: Session) -> None:
        """Raises UserNotFound if the user was deleted meanwhile."""
        try:
            await self._execute(insert(sessions).values(session_row(session)))
        except IntegrityError as error:
            if _is_missing_referenced_row(error):
                raise UserNotFound from None
            raise

    @_translating_errors
    async def get(self, session_id: str) -> Session | None:
        row = (await self._execute(select(sessions).where(sessions.c.id == session_id))).first()
        return session_from_row(row) if row else None

    @_translating_errors
    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        statement = (
            select(sessions, users)
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(sessions.c.id == session_id)
        )
        row = (await self._execute(statement)).first()
        if row is None:
            return None
        session_columns = len(sessions.c)
        return session_from_row(row[:session_columns]), user_from_row(row[session_columns:])

    @_translating_errors
    async def find_active_user(self, session_id: str, user_id: int, now: datetime) -> User | None:
        statement = (
            select(users)
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(
                sessions.c.id == session_id,
                sessions.c.user_id == user_id,
                *_active_at(now),
            )
        )
        row = (await self._execute(statement)).first()
        return user_from_row(row) if row else None

    @_translating_errors
    async def rotate(self, session: Session, *, expected_hash: str) -> bool:
        statement = (
            update(sessions)
            .where(
                sessions.c.id == session.id,
                sessions.c.refresh_token_hash == expected_hash,
                sessions.c.revoked_at.is_(None),
            )
            .values(
                refresh_token_hash=session.refresh_token_hash,
                previous_token_hash=session.previous_token_hash,
                rotated_at=session.rotated_at,
                last_used_at=session.last_used_at,
            )
        )
        return (await self._execute(statement)).rowcount == 1

    @_translating_errors
    async def revoke(self, session_id: str, now: datetime) -> bool:
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return (await self._execute(statement)).rowcount == 1

    @_translating_errors
    async def revoke_all_for_user(
        self, user_id: int, now: datetime, *, keep: str | None = None
    ) -> int:
        statement = (
            update(sessions)
            .where(sessions.c.user_id == user_id, *_active_at(now))
            .values(revoked_at=now)
        )
        if keep is not None:
            statement = statement.where(sessions.c.id != keep)
        return (await self._execute(statement)).rowcount

    @_translating_errors
    async def list_active(self, user_id: int, now: datetime) -> list[Session]:
        statement = (
            select(sessions)
            .where(sessions.c.user_id == user_id, *_active_at(now))
            .order_by(sessions.c.last_used_at.desc(), sessions.c.id)
        )
        return [session_from_row(row) for row in await self._execute(statement)]

    @_translating_errors
    async def purge(self, now: datetime) -> int:
        """One DELETE, served by the expires_at index; run it often enough to keep it small."""
        statement = delete_from(sessions).where(
            or_(sessions.c.revoked_at.is_not(None), sessions.c.expires_at <= now)
        )
        return (await self._execute(statement)).rowcount


class SqlUnitOfWork(UnitOfWork):
    """One connection from the engine's pool, for the span of a `with`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._in_transaction = False
        self.users = SqlUserRepository(self)
        self.sessions = SqlSessionRepository(self)

    async def __aenter__(self) -> Self:
        with storage_errors():
            self._connection = await self._engine.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with storage_errors():
                await connection.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        connection = self._current_connection()
        self._in_transaction = True
        try:
            yield
        except BaseException:
            await _roll_back(connection)
            raise
        else:
            with storage_errors():
                await connection.commit()
        finally:
            self._in_transaction = False

    async def execute(self, statement: Executable) -> CursorResult[Any]:
        """Runs a statement, committing it at once if it writes outside `transaction()`."""
        connection = self._current_connection()
        if self._in_transaction or not isinstance(statement, UpdateBase):
            return await connection.execute(statement)
        try:
            result = await connection.execute(statement)
        except BaseException:
            await _roll_back(connection)
            raise
        await connection.commit()
        return result

    def _current_connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._connection


async def _roll_back(connection: AsyncConnection) -> None:
    """Not raised: the error that led here is the one to report, and a connection whose
    rollback failed rolls back anyway when it is closed, at the latest when the unit ends."""
    with contextlib.suppress(Exception):
        await connection.rollback()


class SqlDatabase:
    """The service's database on SQLite (see database.py)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine)

    async def ping(self) -> None:
        with storage_errors():
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self._engine.dispose()
