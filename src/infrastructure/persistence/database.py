"""The database the service runs on, as DATABASE_URL names it: MySQL on asyncmy's pool
(mysql.py), SQLite on SQLAlchemy's engine (sqlite.py)."""

from typing import Protocol

from application.ports import UnitOfWork
from infrastructure.database_urls import is_mysql
from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.mysql import MySqlDatabase
from infrastructure.persistence.sqlite import SqliteDatabase


class Database(Protocol):
    def unit_of_work(self) -> UnitOfWork: ...

    async def ping(self) -> None:
        """Raises StorageUnavailable unless the database answers a trivial query."""
        ...

    async def close(self) -> None:
        """Releases every connection, for the end of an app's or a worker's life."""
        ...


def open_database(url: str, *, timeout_seconds: float | None = None) -> Database:
    """`timeout_seconds` replaces the short waits that turn an outage into a quick 503:
    commands raise it for statements that take minutes."""
    if is_mysql(url):
        return MySqlDatabase(url, timeout_seconds=timeout_seconds)
    return SqliteDatabase(create_engine(url, timeout_seconds=timeout_seconds))
