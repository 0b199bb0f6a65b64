"""The repositories and unit of work on MySQL (or MariaDB), straight on asyncmy's pool.

Through SQLAlchemy's async engine, the per-request session check (`find_active_user`) cost
~750 us of CPU per unit of work: pool checkout, the reset-on-return ROLLBACK, greenlet
adaptation and statement building, for one indexed query. Here it costs ~80 us. SQLAlchemy
still owns the schema (tables.py), the migrations and SQLite (sql.py).

- Statements are SQL constants with column lists built once from tables.py. asyncmy prepares
  each on a connection at its first use and then runs it in the binary protocol.
- Connections run in autocommit: a statement is its own transaction, at no extra round trip.
  `transaction()` wraps BEGIN and COMMIT around the writes that must stand or fall together.
  Reads made before it are not in it, and need not be: every write checks its own condition
  (rotate's compare-and-swap is a single UPDATE, atomic by itself).
- Outages: a reply, a free connection or a new one's greeting is awaited for at most the read
  timeout, then the unit of work fails with StorageUnavailable. A connection that fails other
  than by an error the server reported is closed and never pooled again. Once one is found
  lost, those idle since are replaced without being tried, and one idle for a few seconds is
  pinged before use, so a dead connection fails at most the one request that meets it.
- Errors translate as in sql.py: a duplicate email is EmailAlreadyRegistered, a session of a
  deleted user UserNotFound, an outage StorageUnavailable, and anything else (a bug) a
  RuntimeError chained to its cause.
"""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar, cast

from asyncmy.connection import Connection
from asyncmy.constants import CLIENT
from asyncmy.cursors import Cursor
from asyncmy.errors import IntegrityError, InterfaceError, MySQLError, OperationalError
from asyncmy.pool import Pool
from sqlalchemy import Table
from sqlalchemy.dialects.mysql.asyncmy import dialect as asyncmy_dialect
from sqlalchemy.engine import make_url

from application.ports import SessionRepository, UnitOfWork, UserRepository
from domain.errors import DomainError, EmailAlreadyRegistered, StorageUnavailable, UserNotFound
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, ProfileChanges, User
from infrastructure.persistence.rows import session_from_row, session_row, user_from_row
from infrastructure.persistence.tables import (
    from_database_time,
    sessions,
    to_database_time,
    users,
)

T = TypeVar("T")

MYSQL_BACKENDS: Final = ("mysql", "mariadb")
"""The URL schemes (before any `+driver`) this module serves."""
MYSQL_READ_TIMEOUT_SECONDS: Final = 1.0
"""Each wait on MySQL: for a reply (a query's, a ping's, a commit's), for a pooled connection
to come free, for a new connection's greeting. Statements here are indexed single-row ones and
transactions hold row locks for milliseconds, so one second is far above normal; a hung server
then costs a request a second or two (a ping, then a new connection), and a 503."""
MYSQL_CONNECT_TIMEOUT_SECONDS: Final = 1.0
"""The TCP connect alone (asyncmy's connect_timeout). One second is plenty on a LAN."""
MYSQL_POOL_SIZE: Final = 10
"""Connections per process. Statements take well under a millisecond, so ten in flight serve
thousands of requests a second, and several processes' pools stay within the server's
max_connections (151 by default)."""
POOL_RECYCLE_SECONDS: Final = 1800
"""A connection idle this long is closed: below MySQL's wait_timeout and the idle limits of
the usual proxies and load balancers."""
IDLE_PING_SECONDS: Final = 5.0
"""A connection idle this long is pinged before use. A busy pool never idles that long, so the
round trip is rare; a quiet one learns of a restart from a ping rather than from a request."""
STATEMENT_CACHE_SIZE: Final = 32
"""Prepared statements kept per connection: every statement of this module fits."""

MYSQL_DUPLICATE_KEY: Final = 1062
MYSQL_NO_REFERENCED_ROW: Final = 1452
EMAIL_TAKEN: Final[Mapping[int, type[DomainError]]] = {MYSQL_DUPLICATE_KEY: EmailAlreadyRegistered}
USER_GONE: Final[Mapping[int, type[DomainError]]] = {MYSQL_NO_REFERENCED_ROW: UserNotFound}


def _columns(table: Table, *, qualified: bool = False) -> str:
    """The table's columns in tables.py's order, the order rows.py reads rows in."""
    prefix = f"{table.name}." if qualified else ""
    return ", ".join(prefix + column.name for column in table.columns)


USER_COLUMNS: Final = _columns(users)
SESSION_COLUMNS: Final = _columns(sessions)
SELECT_ONE: Final = "SELECT 1"
INSERT_USER: Final = "INSERT INTO users (name, email, password, created_at) VALUES (%s, %s, %s, %s)"
SELECT_USER: Final = f"SELECT {USER_COLUMNS} FROM users WHERE id = %s"
SELECT_USER_BY_EMAIL: Final = f"SELECT {USER_COLUMNS} FROM users WHERE email = %s"
UPDATE_PASSWORD_HASH: Final = "UPDATE users SET password = %s WHERE id = %s"
DELETE_USER: Final = "DELETE FROM users WHERE id = %s"
LIST_USERS: Final = f"SELECT {USER_COLUMNS} FROM users WHERE id > %s ORDER BY id LIMIT %s"
INSERT_SESSION: Final = (
    f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({', '.join(['%s'] * len(sessions.c))})"
)
SELECT_SESSION: Final = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = %s"
SELECT_SESSION_WITH_USER: Final = (
    f"SELECT {_columns(sessions, qualified=True)}, {_columns(users, qualified=True)}"
    " FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.id = %s"
)
FIND_ACTIVE_USER: Final = (
    f"SELECT {_columns(users, qualified=True)} FROM sessions"
    " JOIN users ON users.id = sessions.user_id"
    " WHERE sessions.id = %s AND sessions.user_id = %s"
    " AND sessions.revoked_at IS NULL AND sessions.expires_at > %s"
)
ROTATE_SESSION: Final = (
    "UPDATE sessions"
    " SET refresh_token_hash = %s, previous_token_hash = %s, rotated_at = %s, last_used_at = %s"
    " WHERE id = %s AND refresh_token_hash = %s AND revoked_at IS NULL"
)
REVOKE_SESSION: Final = "UPDATE sessions SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL"
REVOKE_USERS_SESSIONS: Final = (
    "UPDATE sessions SET revoked_at = %s"
    " WHERE user_id = %s AND revoked_at IS NULL AND expires_at > %s"
)
REVOKE_USERS_OTHER_SESSIONS: Final = f"{REVOKE_USERS_SESSIONS} AND id != %s"
LIST_ACTIVE_SESSIONS: Final = (
    f"SELECT {SESSION_COLUMNS} FROM sessions"
    " WHERE user_id = %s AND revoked_at IS NULL AND expires_at > %s"
    " ORDER BY last_used_at DESC, id"
)
PURGE_SESSIONS: Final = "DELETE FROM sessions WHERE revoked_at IS NOT NULL OR expires_at <= %s"


@functools.cache
def _update_profile_statement(fields: tuple[str, ...]) -> str:
    """One UPDATE per combination of changed fields, each a column of `users` (KeyError if not),
    made while the session is active."""
    assignments = ", ".join(f"{users.c[field].name} = %s" for field in fields)
    return (
        f"UPDATE users SET {assignments} WHERE id = %s AND EXISTS (SELECT 1 FROM sessions"
        " WHERE sessions.id = %s AND sessions.user_id = users.id"
        " AND sessions.revoked_at IS NULL AND sessions.expires_at > %s)"
    )


def _to_database(parameters: Sequence[object]) -> tuple[object, ...]:
    return tuple(
        to_database_time(value) if isinstance(value, datetime) else value for value in parameters
    )


def _from_database(row: Sequence[object]) -> tuple[object, ...]:
    return tuple(
        from_database_time(value) if isinstance(value, datetime) else value for value in row
    )


def _reported_by_server(error: BaseException) -> bool:
    """An error the server answered with: the connection itself is sound."""
    return isinstance(error, MySQLError) and error.sqlstate is not None


def _storage_error(error: Exception) -> Exception:
    if isinstance(error, OperationalError | InterfaceError | OSError | TimeoutError):
        return StorageUnavailable()
    return RuntimeError(f"database error ({type(error).__name__})")


class MySqlDatabase:
    """asyncmy's pool, with what the service needs beyond it: a bounded wait for a connection,
    a bounded wait for each reply, and no connection reused once it failed or may have."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float | None = None,
        pool_size: int = MYSQL_POOL_SIZE,
    ) -> None:
        """`timeout_seconds` replaces the read timeout (the TCP connect stays short): commands
        raise it for statements that take minutes."""
        self._read_timeout = timeout_seconds or MYSQL_READ_TIMEOUT_SECONDS
        self._pool_size = pool_size
        self._connect_arguments = _connect_arguments(url, self._read_timeout)
        self._created_pool: Pool | None = None
        self._closed = False
        self._lost_at = float("-inf")  # event-loop time a connection was last found lost

    def unit_of_work(self) -> "MySqlUnitOfWork":
        return MySqlUnitOfWork(self)

    async def ping(self) -> None:
        """Raises StorageUnavailable unless a pooled connection answers a trivial query."""
        async with self.unit_of_work() as unit:
            await unit.fetch_one(SELECT_ONE, ())

    async def close(self) -> None:
        """Closes every connection, idle or in use; no unit of work starts afterwards."""
        pool, already_closed, self._closed = self._created_pool, self._closed, True
        if pool is not None and not already_closed:
            pool.terminate()
            await pool.wait_closed()

    async def checkout(self) -> Connection:
        """A connection fit for use, idle in the pool or new. Waiting for either takes at most
        the read timeout: busy connections come free within milliseconds, and a new one's
        greeting comes at once, unless the server hangs."""
        pool = self._pool()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._read_timeout):
                        connection = await pool.acquire()
                except TimeoutError as error:
                    message = f"no connection to MySQL in {self._read_timeout:g} s"
                    raise TimeoutError(message) from error
                if await self._is_sound(pool, connection):
                    return connection
        except Exception as error:
            raise _storage_error(error) from error

    def checkin(self, connection: Connection) -> None:
        """Back to the pool, which drops it if it is closed or still in a transaction."""
        self._pool().release(connection)

    async def reply(self, connection: Connection, request: Awaitable[T]) -> T:
        """Awaits the server's reply to `request` for at most the read timeout.

        A late reply closes the connection, which ends the wait at once, as asyncmy's own
        read_timeout would but without the task it creates for every read (~30 us a statement
        here). Any failure but an error the server reported leaves the connection closed; a
        failure of the link itself also condemns every connection that has been idle since."""
        loop = connection.loop
        deadline = loop.time() + self._read_timeout
        watchdog = loop.call_at(deadline, connection.close)
        try:
            return await request
        except BaseException as error:
            if not _reported_by_server(error):
                connection.close()
                if isinstance(error, MySQLError | OSError):
                    self._lost_at = loop.time()
            if isinstance(error, Exception) and loop.time() >= deadline:
                raise TimeoutError(f"no reply from MySQL in {self._read_timeout:g} s") from error
            raise
        finally:
            watchdog.cancel()

    async def _is_sound(self, pool: Pool, connection: Connection) -> bool:
        """Whether a connection from the pool is fit for use; if not, it is closed and gone."""
        idle_since = connection.last_usage
        if idle_since <= self._lost_at:
            self._discard(pool, connection)
            return False
        if connection.loop.time() - idle_since < IDLE_PING_SECONDS:
            return True
        try:
            await self.reply(connection, connection.ping(reconnect=False))
        except BaseException as error:
            self._discard(pool, connection)
            if not isinstance(error, Exception):
                raise
            return False
        return True

    @staticmethod
    def _discard(pool: Pool, connection: Connection) -> None:
        connection.close()
        pool.release(connection)  # a closed connection leaves the pool

    def _pool(self) -> Pool:
        """Made at first use, inside the event loop it then belongs to."""
        if self._created_pool is None:
            if self._closed:
                raise RuntimeError("the database is closed")
            self._created_pool = Pool(
                minsize=0,
                maxsize=self._pool_size,
                pool_recycle=POOL_RECYCLE_SECONDS,
                **self._connect_arguments,
            )
        return self._created_pool


def _connect_arguments(url: str, read_timeout: float) -> dict[str, Any]:
    """The URL read as SQLAlchemy's asyncmy dialect reads it (so DATABASE_URL means the same
    connection to the migrations), then the settings every connection of ours needs."""
    _, from_url = asyncmy_dialect().create_connect_args(make_url(url))
    return {
        **from_url,
        "charset": "utf8mb4",
        # TIMESTAMP columns convert from and to the session time zone: make it UTC.
        "init_command": "SET time_zone = '+00:00'",
        "connect_timeout": min(MYSQL_CONNECT_TIMEOUT_SECONDS, read_timeout),
        # A transaction only where MySqlUnitOfWork.transaction asks for one.
        "autocommit": True,
        # An UPDATE's rowcount counts the rows it matched, changed or not: rotate's
        # compare-and-swap must succeed when the values it writes are already there.
        "client_flag": from_url.get("client_flag", 0) | CLIENT.FOUND_ROWS,
        "stmt_cache_size": STATEMENT_CACHE_SIZE,
    }


class MySqlUnitOfWork(UnitOfWork):
    """One pooled connection for the span of a `with`."""

    users: "MySqlUserRepository"
    sessions: "MySqlSessionRepository"

    def __init__(self, database: MySqlDatabase) -> None:
        self._database = database
        self._connection: Connection | None = None
        self.users = MySqlUserRepository(self)
        self.sessions = MySqlSessionRepository(self)

    async def __aenter__(self) -> Self:
        self._connection = await self._database.checkout()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._database.checkin(connection)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        connection = self._current_connection()
        await self._reply(connection, connection.begin())
        try:
            yield
        except BaseException:
            # Not raised: a rollback that fails leaves the connection closed, and the server
            # rolls back the transaction of a closed connection anyway. One that is never
            # answered leaves it in the transaction, and the pool closes such a connection.
            with contextlib.suppress(Exception):
                await self._database.reply(connection, connection.rollback())
            raise
        await self._reply(connection, connection.commit())

    async def fetch_one(
        self, statement: str, parameters: Sequence[object]
    ) -> tuple[Any, ...] | None:
        cursor = await self._execute(statement, parameters)
        row = await cursor.fetchone()
        return None if row is None else _from_database(row)

    async def fetch_all(
        self, statement: str, parameters: Sequence[object]
    ) -> list[tuple[Any, ...]]:
        cursor = await self._execute(statement, parameters)
        return [_from_database(row) for row in await cursor.fetchall()]

    async def write(
        self,
        statement: str,
        parameters: Sequence[object],
        *,
        refusals: Mapping[int, type[DomainError]] | None = None,
    ) -> Cursor:
        """`refusals` names the domain error that a row refused by the server with a given error
        code means."""
        return await self._execute(statement, parameters, refusals=refusals)

    async def _execute(
        self,
        statement: str,
        parameters: Sequence[object],
        *,
        refusals: Mapping[int, type[DomainError]] | None = None,
    ) -> Cursor:
        connection = self._current_connection()
        try:
            cursor = connection.cursor()
            await self._database.reply(
                connection, cursor.execute(statement, _to_database(parameters))
            )
        except IntegrityError as error:
            refusal = (refusals or {}).get(error.args[0])
            if refusal is not None:
                raise refusal() from None
            raise _storage_error(error) from error
        except Exception as error:
            raise _storage_error(error) from error
        return cursor

    async def _reply(self, connection: Connection, request: Awaitable[T]) -> T:
        try:
            return await self._database.reply(connection, request)
        except Exception as error:
            raise _storage_error(error) from error

    def _current_connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._connection


class _MySqlRepository:
    def __init__(self, unit: MySqlUnitOfWork) -> None:
        self._unit = unit


class MySqlUserRepository(_MySqlRepository, UserRepository):
    async def add(self, user: NewUser) -> User:
        """`created_at` is kept to the second, as the original TIMESTAMP column keeps it."""
        created_at = user.created_at.replace(microsecond=0)
        cursor = await self._unit.write(
            INSERT_USER,
            (user.name, user.email.value, user.password_hash.value, created_at),
            refusals=EMAIL_TAKEN,
        )
        return User(
            id=cursor.lastrowid,
            name=user.name,
            email=user.email,
            password_hash=user.password_hash,
            created_at=created_at,
        )

    async def get(self, user_id: int) -> User | None:
        row = await self._unit.fetch_one(SELECT_USER, (user_id,))
        return user_from_row(row) if row else None

    async def get_by_email(self, email: Email) -> User | None:
        row = await self._unit.fetch_one(SELECT_USER_BY_EMAIL, (email.value,))
        return user_from_row(row) if row else None

    async def update_profile(
        self, user_id: int, changes: ProfileChanges, *, session_id: str, now: datetime
    ) -> User | None:
        """One UPDATE of the changed columns only, so a concurrent edit of another survives.
        It matches no row unless the session is active (a rowcount of matched rows, changed or
        not: CLIENT.FOUND_ROWS)."""
        changed = changes.as_dict()
        statement = _update_profile_statement(tuple(changed))
        cursor = await self._unit.write(statement, (*changed.values(), user_id, session_id, now))
        return await self.get(user_id) if cursor.rowcount == 1 else None

    async def set_password_hash(self, user_id: int, password_hash: PasswordHash) -> None:
        await self._unit.write(UPDATE_PASSWORD_HASH, (password_hash.value, user_id))

    async def delete(self, user_id: int) -> bool:
        """The user's sessions go with the row, by ON DELETE CASCADE."""
        cursor = await self._unit.write(DELETE_USER, (user_id,))
        return cursor.rowcount == 1

    async def list(self, after_id: int, limit: int) -> list[User]:
        """Keyset pagination on the primary key: any page costs as little as the first."""
        rows = await self._unit.fetch_all(LIST_USERS, (after_id, limit))
        return [user_from_row(row) for row in rows]


class MySqlSessionRepository(_MySqlRepository, SessionRepository):
    async def add(self, session: Session) -> None:
        """Raises UserNotFound if the user was deleted meanwhile."""
        await self._unit.write(INSERT_SESSION, session_row(session), refusals=USER_GONE)

    async def get(self, session_id: str) -> Session | None:
        row = await self._unit.fetch_one(SELECT_SESSION, (session_id,))
        return session_from_row(row) if row else None

    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        row = await self._unit.fetch_one(SELECT_SESSION_WITH_USER, (session_id,))
        if row is None:
            return None
        session_columns = len(sessions.c)
        return session_from_row(row[:session_columns]), user_from_row(row[session_columns:])

    async def find_active_user(self, session_id: str, user_id: int, now: datetime) -> User | None:
        row = await self._unit.fetch_one(FIND_ACTIVE_USER, (session_id, user_id, now))
        return user_from_row(row) if row else None

    async def rotate(self, session: Session, *, expected_hash: str) -> bool:
        cursor = await self._unit.write(
            ROTATE_SESSION,
            (
                session.refresh_token_hash,
                session.previous_token_hash,
                session.rotated_at,
                session.last_used_at,
                session.id,
                expected_hash,
            ),
        )
        return cursor.rowcount == 1

    async def revoke(self, session_id: str, now: datetime) -> bool:
        cursor = await self._unit.write(REVOKE_SESSION, (now, session_id))
        return cursor.rowcount == 1

    async def revoke_all_for_user(
        self, user_id: int, now: datetime, *, keep: str | None = None
    ) -> int:
        if keep is None:
            cursor = await self._unit.write(REVOKE_USERS_SESSIONS, (now, user_id, now))
        else:
            cursor = await self._unit.write(REVOKE_USERS_OTHER_SESSIONS, (now, user_id, now, keep))
        return cast(int, cursor.rowcount)  # asyncmy's stub says object

    async def list_active(self, user_id: int, now: datetime) -> list[Session]:
        rows = await self._unit.fetch_all(LIST_ACTIVE_SESSIONS, (user_id, now))
        return [session_from_row(row) for row in rows]

    async def purge(self, now: datetime) -> int:
        """One DELETE, served by the expires_at index; run it often enough to keep it small."""
        cursor = await self._unit.write(PURGE_SESSIONS, (now,))
        return cast(int, cursor.rowcount)  # asyncmy's stub says object
