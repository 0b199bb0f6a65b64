"""The service's database on SQLite: repositories.py's repositories on SQLAlchemy's engine.

A unit of work holds one pooled connection. A write outside `transaction()` is committed as
soon as it succeeds, and undone at once if it fails.

On SQLite a transaction takes the write lock at its first write, not at its first read, so
read-only units of work never wait for writers; writers queue behind each other for up to the
busy timeout. The compare-and-swap of `rotate` needs nothing more, and no write ever loses to
a concurrent one: `conflict` has nothing to do here.
"""

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from sqlalchemy import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import DomainError
from infrastructure.persistence.engine import storage_errors
from infrastructure.persistence.repositories import (
    Conflict,
    Parameters,
    Refusal,
    Row,
    SqlUnitOfWork,
    refused,
)
from infrastructure.persistence.statements import SELECT_ONE, Statement

_REFUSAL_MESSAGES = {
    Refusal.DUPLICATE_KEY: "UNIQUE constraint failed",
    Refusal.MISSING_REFERENCED_ROW: "FOREIGN KEY constraint failed",
}


def _refusal(error: IntegrityError) -> Refusal | None:
    message = str(error.orig)
    return next((refusal for refusal, text in _REFUSAL_MESSAGES.items() if text in message), None)


class SqliteUnitOfWork(SqlUnitOfWork):
    """One connection from the engine's pool, for the span of a `with`."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._in_transaction = False

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

    @contextlib.asynccontextmanager
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

    async def fetch_one(self, statement: Statement, parameters: Parameters) -> Row | None:
        with storage_errors():
            return (await self._current_connection().execute(statement, parameters)).first()

    async def fetch_all(self, statement: Statement, parameters: Parameters) -> Sequence[Row]:
        with storage_errors():
            return (await self._current_connection().execute(statement, parameters)).all()

    async def write(
        self,
        statement: Statement,
        parameters: Parameters,
        *,
        refusals: Mapping[Refusal, type[DomainError]] | None = None,
        conflict: Conflict = Conflict.RETRY,
    ) -> CursorResult[Any]:
        with storage_errors():
            try:
                return await self._write(statement, parameters)
            except IntegrityError as error:
                error_for_caller = refused(refusals, _refusal(error))
                if error_for_caller is not None:
                    raise error_for_caller from None
                raise

    async def _write(self, statement: Statement, parameters: Parameters) -> CursorResult[Any]:
        connection = self._current_connection()
        if self._in_transaction:
            return await connection.execute(statement, parameters)
        try:
            result = await connection.execute(statement, parameters)
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


class SqliteDatabase:
    """The service's database on SQLite (see database.py)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def unit_of_work(self) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self._engine)

    async def ping(self) -> None:
        with storage_errors():
            async with self._engine.connect() as connection:
                await connection.execute(SELECT_ONE)

    async def close(self) -> None:
        await self._engine.dispose()
