"""The service's database on MySQL (or MariaDB): repositories.py's repositories straight on
asyncmy's pool.

Through SQLAlchemy's async engine, the per-request session check (`find_active_user`) cost
~750 us of CPU per unit of work: pool checkout, the reset-on-return ROLLBACK, greenlet
adaptation and statement building, for one indexed query. Here it costs ~80 us. SQLAlchemy
still owns the schema (tables.py), the statements (statements.py), the migrations and SQLite.

- statements.py's statements are compiled once for MySQL, to SQL text and the order of their
  parameters. asyncmy prepares each on a connection at its first use and then runs it in the
  binary protocol.
- Connections run in autocommit: a statement is its own transaction, at no extra round trip.
  `transaction()` wraps BEGIN and COMMIT around the writes that must stand or fall together.
  Reads made before it are not in it, and need not be: every write checks its own condition
  (rotate's compare-and-swap is a single UPDATE, atomic by itself).
- Outages: a reply, a free connection or a new one's greeting is awaited for at most the read
  timeout, then the unit of work fails with StorageUnavailable. A connection that fails other
  than by an error the server reported is closed and never pooled again. Once one is found
  lost, those idle since are replaced without being tried, and one idle for a few seconds is
  pinged before use, so a dead connection fails at most the one request that meets it.
- The outbox is claimed with `SELECT ... FOR UPDATE SKIP LOCKED`, then an UPDATE of each row
  locked, in one transaction: concurrent claimers take disjoint messages without waiting for
  each other (`claim_due_messages`).
- Errors are translated in one place, `_translated`: a duplicate email or a session of a
  deleted user is a refusal, a deadlock (on Galera also a certification failure, 1213) or a
  lock wait timeout (1205) a lost race, which SqlUnitOfWork makes again or reports as a lost
  compare-and-swap (repositories.py). A node not ready or shutting down (1047, 1053) is
  StorageUnavailable with a log line of its own; other outages are StorageUnavailable, and
  anything else (a bug) a RuntimeError chained to its cause.
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar, cast

from asyncmy.connection import Connection
from asyncmy.constants import CLIENT
from asyncmy.cursors import Cursor
from asyncmy.errors import InterfaceError, MySQLError, OperationalError
from asyncmy.pool import Pool
from sqlalchemy import text
from sqlalchemy.dialects.mysql.asyncmy import dialect as asyncmy_dialect
from sqlalchemy.engine import make_url

from domain.errors import StorageUnavailable
from infrastructure.persistence.connections import (
    MYSQL_CONNECT_TIMEOUT_SECONDS,
    MYSQL_READ_TIMEOUT_SECONDS,
)
from infrastructure.persistence.repositories import (
    LostRace,
    Parameters,
    Refusal,
    Refused,
    Row,
    SqlUnitOfWork,
    Written,
)
from infrastructure.persistence.statements import (
    CLAIM_MESSAGE,
    SELECT_DUE_MESSAGES_LOCKED,
    STATEMENTS,
    Statement,
)
from infrastructure.persistence.tables import from_database_time, to_database_time

T = TypeVar("T")

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
STATEMENT_CACHE_SIZE: Final = 48
"""Prepared statements kept per connection: every statement of statements.py fits."""
REFUSALS: Final[Mapping[int, Refusal]] = {
    1062: Refusal.DUPLICATE_KEY,  # ER_DUP_ENTRY
    1452: Refusal.MISSING_REFERENCED_ROW,  # ER_NO_REFERENCED_ROW_2
}
LOST_RACE: Final = frozenset(
    {
        1213,  # ER_LOCK_DEADLOCK: a deadlock, or Galera's certification failure
        1205,  # ER_LOCK_WAIT_TIMEOUT
    }
)
NODE_NOT_READY: Final = frozenset(
    {
        1047,  # ER_UNKNOWN_COM_ERROR: a Galera node not (yet) synced with its cluster
        1053,  # ER_SERVER_SHUTDOWN
    }
)

NODE_STATUS: Final = text(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_provider_name', 'wsrep_ready')"
)
"""What readiness asks a node: whether it belongs to a Galera cluster, and if so whether it
is in the primary component."""

logger = logging.getLogger("authsvc.storage")


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    sql: str
    parameter_names: tuple[str, ...]
    """In the order of the placeholders; a name used twice stands twice."""

    def arguments(self, parameters: Parameters) -> tuple[object, ...]:
        return tuple(_to_database(parameters[name]) for name in self.parameter_names)


@functools.cache
def compiled(statement: Statement) -> CompiledStatement:
    """The statement as MySQL's SQL text, with `%s` placeholders, made once per statement."""
    compiler = statement.compile(dialect=asyncmy_dialect())
    return CompiledStatement(compiler.string, tuple(compiler.positiontup or ()))


def _to_database(value: object) -> object:
    return to_database_time(value) if isinstance(value, datetime) else value


def _from_database(row: Sequence[object]) -> tuple[object, ...]:
    return tuple(
        from_database_time(value) if isinstance(value, datetime) else value for value in row
    )


def _error_code(error: BaseException) -> int | None:
    """The server's error number, for an error the server answered with."""
    if isinstance(error, MySQLError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return None


def _reported_by_server(error: BaseException) -> bool:
    """An error the server answered with: the connection itself is sound."""
    return isinstance(error, MySQLError) and error.sqlstate is not None


def _translated(error: Exception) -> Exception:
    """The one place an error of MySQL's becomes what a unit of work raises: a refusal or a
    lost race for SqlUnitOfWork to handle, else StorageUnavailable for an outage (a node out of
    its cluster logged as such) or a RuntimeError for a bug."""
    code = _error_code(error)
    if (refusal := REFUSALS.get(code or 0)) is not None:
        return Refused(refusal)
    if code in LOST_RACE:
        return LostRace(f"MySQL error {code}")
    if code in NODE_NOT_READY:
        logger.error("MySQL node not ready or shutting down (error %d)", code)
        return StorageUnavailable()
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
        for statement in STATEMENTS:
            compiled(statement)

    def unit_of_work(self) -> "MySqlUnitOfWork":
        return MySqlUnitOfWork(self)

    async def ping(self) -> None:
        """Raises StorageUnavailable unless a pooled connection answers and the server takes
        queries. A Galera node out of the primary component (wsrep_ready OFF) still answers a
        query on no table, but refuses every table with error 1047; MySQL, and MariaDB without
        Galera, name no wsrep provider."""
        async with self.unit_of_work() as unit:
            rows = await unit.fetch_all(NODE_STATUS, {})
        status = {str(name): str(value) for name, value in rows}
        if status.get("wsrep_provider_name") and status.get("wsrep_ready") != "ON":
            raise StorageUnavailable()

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
            raise _translated(error) from error

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


class MySqlUnitOfWork(SqlUnitOfWork[Connection]):
    """One pooled connection for the span of a `with`."""

    def __init__(self, database: MySqlDatabase) -> None:
        super().__init__()
        self._database = database

    async def claim_due_messages(self, parameters: Parameters) -> Sequence[Row]:
        """SKIP LOCKED passes over the rows another claim holds until its COMMIT, so concurrent
        claimers neither wait nor take a message twice. On a Galera cluster the locks are the
        node's own: two nodes may pick one row, but the UPDATE claims it only while it is
        still due, and of two transactions writing it the cluster commits one (the other
        fails certification, 1213, a lost race reported as StorageUnavailable): a lost claim,
        never a double one."""
        async with contextlib.AsyncExitStack() as stack:
            if not self._in_transaction:
                await stack.enter_async_context(self.transaction())
            rows = await self.fetch_all(SELECT_DUE_MESSAGES_LOCKED, parameters)
            claimed = []
            for row in rows:
                written = await self.write(CLAIM_MESSAGE, {**parameters, "message_id": row[0]})
                if written.rowcount == 1:
                    claimed.append(row)
        return claimed

    async def _connect(self) -> Connection:
        return await self._database.checkout()

    async def _release(self, connection: Connection) -> None:
        self._database.checkin(connection)

    async def _begin(self, connection: Connection) -> None:
        await self._reply(connection, connection.begin())

    async def _commit(self, connection: Connection) -> None:
        await self._reply(connection, connection.commit())

    async def _roll_back(self, connection: Connection) -> None:
        # A rollback that fails leaves the connection closed, and the server rolls back the
        # transaction of a closed connection anyway. One that is never answered leaves it in
        # the transaction, and the pool closes such a connection.
        with contextlib.suppress(Exception):
            await self._database.reply(connection, connection.rollback())

    async def _fetch_one(self, statement: Statement, parameters: Parameters) -> Row | None:
        cursor = await self._execute(statement, parameters)
        row = await cursor.fetchone()
        return None if row is None else _from_database(row)

    async def _fetch_all(self, statement: Statement, parameters: Parameters) -> list[Row]:
        cursor = await self._execute(statement, parameters)
        return [_from_database(row) for row in await cursor.fetchall()]

    async def _write(self, statement: Statement, parameters: Parameters) -> Written:
        # asyncmy's stub types rowcount as object; it is the int of DB-API.
        return cast(Written, await self._execute(statement, parameters))

    async def _execute(self, statement: Statement, parameters: Parameters) -> Cursor:
        connection = self._current_connection()
        sql = compiled(statement)
        try:
            cursor = connection.cursor()
            await self._database.reply(
                connection, cursor.execute(sql.sql, sql.arguments(parameters))
            )
        except Exception as error:
            raise _translated(error) from error
        return cursor

    async def _reply(self, connection: Connection, request: Awaitable[T]) -> T:
        try:
            return await self._database.reply(connection, request)
        except Exception as error:
            raise _translated(error) from error
