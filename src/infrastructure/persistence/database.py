"""The database the service runs on, as DATABASE_URL names it: MySQL on asyncmy's pool
(mysql.py), SQLite on SQLAlchemy's engine (sql.py)."""

from typing import Protocol

from sqlalchemy.engine import make_url

from application.ports import UnitOfWork
from infrastructure.persistence.mysql import MYSQL_BACKENDS, MySqlDatabase
from infrastructure.persistence.sql import SqlDatabase, create_engine


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
    if make_url(url).get_backend_name() in MYSQL_BACKENDS:
        return MySqlDatabase(url, timeout_seconds=timeout_seconds)
    return SqlDatabase(create_engine(url, timeout_seconds=timeout_seconds))
