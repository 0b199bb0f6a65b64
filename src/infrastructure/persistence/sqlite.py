"""The service's database on SQLite: repositories.py's repositories on SQLAlchemy's engine.

A unit of work holds one pooled connection. A write outside `transaction()` is committed as
soon as it succeeds, and undone at once if it fails.

On SQLite a transaction takes the write lock at its first write, not at its first read, so
read-only units of work never wait for writers; writers queue behind each other for up to the
busy timeout. The compare-and-swap of `rotate` needs nothing more, and no write ever loses to
a concurrent one: `conflict` has nothing to do here. For the same reason the outbox is claimed
by one conditional UPDATE, which no other claim can interleave with.
"""

import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infrastructure.persistence.engine import storage_errors
from infrastructure.persistence.repositories import (
    Parameters,
    Refusal,
    Refused,
    Row,
    SqlUnitOfWork,
)
from infrastructure.persistence.statements import (
    CLAIM_DUE_MESSAGES,
    SELECT_CLAIMED_MESSAGES,
    SELECT_ONE,
    Statement,
)

_REFUSAL_MESSAGES = {
    Refusal.DUPLICATE_KEY: "UNIQUE constraint failed",
    Refusal.MISSING_REFERENCED_ROW: "FOREIGN KEY constraint failed",
}


def _refusal(error: IntegrityError) -> Refusal | None:
    message = str(error.orig)
    return next((refusal for refusal, text in _REFUSAL_MESSAGES.items() if text in message), None)


class SqliteUnitOfWork(SqlUnitOfWork[AsyncConnection]):
    """One connection from the engine's pool, for the span of a `with`."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine

    async def claim_due_messages(self, parameters: Parameters) -> Sequence[Row]:
        """Claims the due messages in one UPDATE (writers run one at a time), then reads back
        the rows that carry the new claim."""
        await self.write(CLAIM_DUE_MESSAGES, parameters)
        return await self.fetch_all(SELECT_CLAIMED_MESSAGES, parameters)

    async def _connect(self) -> AsyncConnection:
        with storage_errors():
            return await self._engine.connect()

    async def _release(self, connection: AsyncConnection) -> None:
        with storage_errors():
            await connection.close()

    async def _begin(self, connection: AsyncConnection) -> None:
        """Nothing to send: SQLAlchemy begins a transaction with the first statement."""

    async def _commit(self, connection: AsyncConnection) -> None:
        with storage_errors():
            await connection.commit()

    async def _roll_back(self, connection: AsyncConnection) -> None:
        # A connection whose rollback failed rolls back anyway when it is closed, at the
        # latest when the unit ends.
        with contextlib.suppress(Exception):
            await connection.rollback()

    async def _fetch_one(self, statement: Statement, parameters: Parameters) -> Row | None:
        with storage_errors():
            return (await self._current_connection().execute(statement, parameters)).first()

    async def _fetch_all(self, statement: Statement, parameters: Parameters) -> Sequence[Row]:
        with storage_errors():
            return (await self._current_connection().execute(statement, parameters)).all()

    async def _write(self, statement: Statement, parameters: Parameters) -> CursorResult[Any]:
        connection = self._current_connection()
        with storage_errors():
            try:
                result = await connection.execute(statement, parameters)
            except BaseException as error:
                if not self._in_transaction:
                    await self._roll_back(connection)
                if isinstance(error, IntegrityError) and (refusal := _refusal(error)):
                    raise Refused(refusal) from error
                raise
            if not self._in_transaction:
                await connection.commit()
            return result


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
