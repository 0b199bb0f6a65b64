"""The repositories and unit of work on MySQL (asyncmy) and SQLite (aiosqlite), in SQLAlchemy Core.

A unit of work holds one pooled connection and one transaction, rolled back on leaving unless
committed. Database errors never leave this module as SQLAlchemy exceptions: a duplicate email
becomes EmailAlreadyRegistered, a lost or unreachable database StorageUnavailable, and anything
else (a bug, not an outage) a RuntimeError chained to its cause.

On SQLite a transaction takes the write lock at its first write, not at its first read, so
read-only units of work never wait for writers; writers queue behind each other for up to the
busy timeout. The compare-and-swap of `rotate` needs nothing more.
"""

import functools
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, Final, ParamSpec, Self, TypeVar

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Row,
    event,
    insert,
    or_,
    select,
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
from sqlalchemy.pool import AsyncAdaptedQueuePool

from application.ports import SessionRepository, UnitOfWork, UnitOfWorkFactory, UserRepository
from domain.errors import EmailAlreadyRegistered, StorageUnavailable, UserNotFound
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, ProfileChanges, User
from infrastructure.persistence.tables import sessions, users

MYSQL_READ_TIMEOUT_SECONDS: Final = 1.0
"""Each wait for bytes from MySQL: the greeting and handshake of a new connection, a pre-ping,
a query's reply. Statements here are indexed single-row ones and transactions hold row locks
for milliseconds, so one second is far above normal. It is short because a checkout from a
hung server pays it twice (the pre-ping, then the greeting of the reconnect): ~2 s to a 503."""
MYSQL_CONNECT_TIMEOUT_SECONDS: Final = 1.0
"""The TCP connect alone (asyncmy's connect_timeout); the handshake is bounded by the read
timeout. One second is plenty on a LAN and keeps a dropped SYN within the same ~2 s."""
MYSQL_POOL_TIMEOUT_SECONDS: Final = 2.0
"""Waiting for a pooled connection when all are busy: connections stuck on a hung server free
up within two read timeouts, so a queued request gets its 503 within about as long."""
SQLITE_TIMEOUT_SECONDS: Final = 5.0
"""Waiting for SQLite's write lock (busy timeout) and for a pooled connection."""
DEFAULT_POOL_SIZE: Final = 10
POOL_RECYCLE_SECONDS: Final = 1800
"""Below MySQL's wait_timeout and the idle limits of the usual proxies and load balancers."""

MYSQL_DUPLICATE_KEY: Final = 1062
MYSQL_NO_REFERENCED_ROW: Final = 1452


def create_engine(
    url: str,
    *,
    timeout_seconds: float | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> AsyncEngine:
    """An engine for a `mysql+asyncmy://` (or `mariadb+asyncmy://`) or `sqlite+aiosqlite://` URL.

    The defaults make an unreachable or hung database fail a request quickly (a 503 within
    about 2 s on MySQL) instead of holding it, and pre-ping every checkout so the pool recovers
    by itself when the database returns. `timeout_seconds` replaces the wait for each read
    from MySQL, for a pooled connection and for SQLite's write lock (the TCP connect stays
    short): raise it for long migrations."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):
        return _mysql_engine(parsed, timeout_seconds, pool_size)
    if backend == "sqlite":
        return _sqlite_engine(parsed, timeout_seconds or SQLITE_TIMEOUT_SECONDS)
    raise ValueError(f"unsupported database {parsed.drivername!r}: use MySQL or SQLite")


def _mysql_engine(url: URL, timeout_seconds: float | None, pool_size: int) -> AsyncEngine:
    read_timeout = timeout_seconds or MYSQL_READ_TIMEOUT_SECONDS
    # No client_flag here: the dialect sets FOUND_ROWS, which rotate's rowcount relies on.
    return create_async_engine(
        url,
        # A dead pooled connection costs one failed ping, which also discards every connection
        # pooled before it; without it, each would fail one request after an outage.
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_timeout=timeout_seconds or MYSQL_POOL_TIMEOUT_SECONDS,
        connect_args={
            "charset": "utf8mb4",
            # connect_timeout covers the TCP connect only; read_timeout covers the handshake
            # and every reply, so a server that accepts and never answers cannot hang a request.
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
            Path(database).parent.mkdir(parents=True, exist_ok=True)
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
    return _mysql_error_code(error) == MYSQL_DUPLICATE_KEY or _sqlite_error_says(
        error, "UNIQUE constraint failed"
    )


def _is_missing_referenced_row(error: IntegrityError) -> bool:
    return _mysql_error_code(error) == MYSQL_NO_REFERENCED_ROW or _sqlite_error_says(
        error, "FOREIGN KEY constraint failed"
    )


def _mysql_error_code(error: IntegrityError) -> object:
    args = getattr(error.orig, "args", ())
    return args[0] if args else None


def _sqlite_error_says(error: IntegrityError, message: str) -> bool:
    return message in str(error.orig)


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
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _execute(self, statement: Executable) -> CursorResult[Any]:
        return await self._connection.execute(statement)


def _user_from_row(row: Row[Any]) -> User:
    return User(
        id=row.id,
        name=row.name,
        email=Email(row.email),
        password_hash=PasswordHash(row.password),
        bio=row.bio,
        contact=row.contact,
        created_at=row.created_at,
    )


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
        return _user_from_row(row) if row else None

    @_translating_errors
    async def get_by_email(self, email: Email) -> User | None:
        row = (await self._execute(select(users).where(users.c.email == email.value))).first()
        return _user_from_row(row) if row else None

    @_translating_errors
    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User | None:
        """One UPDATE of the changed columns only, so a concurrent edit of another survives."""
        changed = changes.as_dict()
        if changed:
            await self._execute(update(users).where(users.c.id == user_id).values(**changed))
        return await self.get(user_id)

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
        return [_user_from_row(row) for row in await self._execute(statement)]


def _session_from_row(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        refresh_token_hash=row.refresh_token_hash,
        previous_token_hash=row.previous_token_hash,
        rotated_at=row.rotated_at,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        user_agent=row.user_agent,
        ip=row.ip,
    )


def _active_at(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)


class SqlSessionRepository(_SqlRepository, SessionRepository):
    @_translating_errors
    async def add(self, session: Session) -> None:
        """A user agent or IP longer than its column is cut, never refused: it is only a hint.
        Raises UserNotFound if the user was deleted meanwhile."""
        statement = insert(sessions).values(
            id=session.id,
            user_id=session.user_id,
            refresh_token_hash=session.refresh_token_hash,
            previous_token_hash=session.previous_token_hash,
            rotated_at=session.rotated_at,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            revoked_at=session.revoked_at,
            user_agent=session.user_agent,
            ip=session.ip,
        )
        try:
            await self._execute(statement)
        except IntegrityError as error:
            if _is_missing_referenced_row(error):
                raise UserNotFound from None
            raise

    @_translating_errors
    async def get(self, session_id: str) -> Session | None:
        row = (await self._execute(select(sessions).where(sessions.c.id == session_id))).first()
        return _session_from_row(row) if row else None

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
        return _user_from_row(row) if row else None

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
        return [_session_from_row(row) for row in await self._execute(statement)]

    @_translating_errors
    async def purge(self, now: datetime) -> int:
        """One DELETE, served by the expires_at index; run it often enough to keep it small."""
        statement = delete_from(sessions).where(
            or_(sessions.c.revoked_at.is_not(None), sessions.c.expires_at <= now)
        )
        return (await self._execute(statement)).rowcount


class SqlUnitOfWork(UnitOfWork):
    """One connection from the engine's pool and one transaction, for the span of a `with`."""

    users: SqlUserRepository
    sessions: SqlSessionRepository

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        with storage_errors():
            connection = await self._engine.connect()
        try:
            with storage_errors():
                await connection.begin()
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        self.users = SqlUserRepository(connection)
        self.sessions = SqlSessionRepository(connection)
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

    async def commit(self) -> None:
        if self._connection is None:
            raise RuntimeError("commit() outside `async with`")
        with storage_errors():
            await self._connection.commit()


def unit_of_work_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return functools.partial(SqlUnitOfWork, engine)
