"""Schema migrations, run on an engine the caller already has, inside its event loop.

The Alembic configuration is built here rather than read from an alembic.ini, and the
migrations ship inside the package, so an installed service finds them wherever it runs.
New revisions go in `migrations/versions/` (start from `script.py.mako`) and must leave the
schema equal to `tables.py`, which the migration tests check.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.persistence.sql import storage_errors

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """The configuration `migrations/env.py` expects: where the scripts are, and the connection
    to run them on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The revision the code expects the database to be at."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


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


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with storage_errors():
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
