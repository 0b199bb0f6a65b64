"""Schema migrations, run on an engine the caller already has, inside its event loop.

The Alembic configuration is built here rather than read from an alembic.ini, and the
migrations ship inside the package, so an installed service finds them wherever it runs.
New revisions go in `migrations/versions/` (start from `script.py.mako`) and must leave the
schema equal to `tables.py`, which the migration tests check.
"""

from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import TIMESTAMP, Connection, Dialect, Integer, String, Text, inspect
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from infrastructure.persistence.engine import storage_errors

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")
ORIGINAL_REVISION: Final = "0001_original_users"
"""The original service's `users` table, where the migrations of an adopted database start."""

_ORIGINAL_USERS_COLUMNS: Final[dict[str, TypeEngine[Any]]] = {
    "id": Integer(),
    "name": String(100),
    "email": String(100),
    "password": String(255),
    "bio": Text(),
    "contact": String(20),
    "refreshToken": String(255),
    "created_at": TIMESTAMP(),
}
"""The columns of the original service's `CREATE TABLE users`, by name."""


def alembic_config(connection: Connection | None = None) -> Config:
    """The configuration `migrations/env.py` expects: where the scripts are, and the connection
    to run them on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    config.attributes["connection"] = connection
    return config


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Applies every migration up to `revision`; a database already there is left untouched."""
    with storage_errors():
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def stamp_database(engine: AsyncEngine, revision: str) -> None:
    """Records `revision` as applied without running anything: how a database the original
    service created is adopted (stamped at `0001_original_users`, then upgraded)."""
    with storage_errors():
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.stamp(alembic_config(sync), revision))


class AdoptionRefused(Exception):
    """The database is not one the original service created, so the migrations cannot assume
    what it holds; the message says what differs."""


async def adopt_database(engine: AsyncEngine) -> None:
    """Stamps a database of the original service at ORIGINAL_REVISION, for `upgrade_database`
    to move forward from there.

    Only the original service's database qualifies: its `users` table with the original
    columns (each of a type that holds what the original held) and a unique email, and
    nothing else, not even an `alembic_version`. Anything else raises AdoptionRefused and is
    left untouched: migrating a schema that only resembles the original could lose data."""
    with storage_errors():
        async with engine.connect() as connection:
            problem = await connection.run_sync(_why_not_original)
    if problem is not None:
        raise AdoptionRefused(problem)
    await stamp_database(engine, ORIGINAL_REVISION)


def _why_not_original(connection: Connection) -> str | None:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if "alembic_version" in tables:
        revision = MigrationContext.configure(connection).get_current_revision()
        return f"it is already managed by authsvc (at revision {revision}); use `db upgrade`"
    if "users" not in tables:
        return "it has no users table"
    if others := sorted(tables - {"users"}):
        return f"it has tables besides users: {', '.join(others)}"
    differences = _users_table_differences(inspector, connection.dialect)
    if differences:
        return f"its users table is not the original service's: {'; '.join(differences)}"
    return None


def _users_table_differences(inspector: Inspector, dialect: Dialect) -> list[str]:
    found = {column["name"]: column["type"] for column in inspector.get_columns("users")}
    differences = [f"no column {name}" for name in _ORIGINAL_USERS_COLUMNS if name not in found]
    differences += [f"extra column {name}" for name in found if name not in _ORIGINAL_USERS_COLUMNS]
    differences += [
        f"{name} is {_rendered(found[name], dialect)}, not {_rendered(expected, dialect)}"
        for name, expected in _ORIGINAL_USERS_COLUMNS.items()
        if name in found and not _holds(found[name], expected)
    ]
    indexes = inspector.get_indexes("users", include_auto_indexes=True)
    if not any(index["unique"] and index["column_names"] == ["email"] for index in indexes):
        differences.append("email is not unique")
    return differences


def _holds(found: TypeEngine[Any], expected: TypeEngine[Any]) -> bool:
    """Whether a column of type `found` holds every value the original column could: the same
    kind of type, and strings at least as long (TEXT has no declared length)."""
    if not isinstance(found, type(expected)):
        return False
    if isinstance(found, String) and isinstance(expected, String):
        return not (found.length and expected.length and found.length < expected.length)
    return True


def _rendered(type_: TypeEngine[Any], dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except CompileError:  # a type SQLAlchemy could not reflect
        return repr(type_)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with storage_errors():
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
