"""The migrations: from nothing, or from the original service's table, to tables.py."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports import UnitOfWork
from domain.users import Email, PasswordHash, ProfileChanges
from infrastructure.persistence.database import open_database
from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.migrate import (
    adopt_database,
    alembic_config,
    current_revision,
    upgrade_database,
)
from infrastructure.persistence.tables import metadata
from tests.contract.conftest import DURING_SESSION, sign_in
from tests.databases import DATABASES, NODE_USERS_TABLE, fresh_database, fresh_mysql_database

ORIGINAL = "0001_original_users"
ORIGINAL_COLUMNS = [
    "id",
    "name",
    "email",
    "password",
    "bio",
    "contact",
    "refreshToken",
    "created_at",
]
NODE_BCRYPT_HASH = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


def head_revision() -> str | None:
    """The revision of the newest migration script."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(params=DATABASES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh, empty database."""
    async with fresh_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[UnitOfWork]:
    """A unit of work on the engine's database, through the adapter the service runs there."""
    database = open_database(engine.url.render_as_string(hide_password=False))
    try:
        async with database.unit_of_work() as uow:
            yield uow
    finally:
        await database.close()


def schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def differences_from_tables(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(schema_differences)


async def column_names(engine: AsyncEngine, table: str) -> list[str]:
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda sync: inspect(sync).get_columns(table))
    return [column["name"] for column in columns]


async def insert_original_user(engine: AsyncEngine) -> None:
    """A row as the original service wrote it: its own bcrypt hash and a plaintext token."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (name, email, password, bio, refreshToken) "
                "VALUES ('Dummy', 'dummy@gmail.com', :password, 'Developer', 'eyJplaintext')"
            ),
            {"password": NODE_BCRYPT_HASH},
        )


async def insert_user_at_head(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO users (name, email, password) VALUES ('Ada', 'ada@example.com', 'x')")
        )


async def test_an_empty_database_is_upgraded_to_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None

    await upgrade_database(engine)

    assert await current_revision(engine) == head_revision() == "0004_second_factor"


async def test_the_migrated_schema_is_the_schema_of_tables_py(engine: AsyncEngine) -> None:
    await upgrade_database(engine)

    assert await differences_from_tables(engine) == []


async def test_upgrading_again_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade_database(engine)
    await insert_user_at_head(engine)

    await upgrade_database(engine)

    assert await current_revision(engine) == head_revision()
    async with unit_of_work(engine) as uow:
        assert await uow.users.get_by_email(Email("ada@example.com")) is not None


async def test_the_first_revision_is_the_original_services_table(engine: AsyncEngine) -> None:
    await upgrade_database(engine, ORIGINAL)

    assert await current_revision(engine) == ORIGINAL
    assert await column_names(engine, "users") == ORIGINAL_COLUMNS
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "sessions" not in tables


async def test_upgrading_from_the_original_table_keeps_its_users(engine: AsyncEngine) -> None:
    await upgrade_database(engine, ORIGINAL)
    await insert_original_user(engine)

    await upgrade_database(engine)

    assert "refreshToken" not in await column_names(engine, "users")
    async with unit_of_work(engine) as uow:
        user = await uow.users.get_by_email(Email("dummy@gmail.com"))
    assert user is not None
    assert (user.name, user.bio, user.password_hash) == (
        "Dummy",
        "Developer",
        PasswordHash(NODE_BCRYPT_HASH),
    )
    assert user.created_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - user.created_at).total_seconds() < 3600
    assert not user.email_verified


async def test_a_downgrade_to_the_original_table_can_be_upgraded_again(
    engine: AsyncEngine,
) -> None:
    await upgrade_database(engine)
    await insert_user_at_head(engine)

    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), ORIGINAL))
    assert sorted(await column_names(engine, "users")) == sorted(ORIGINAL_COLUMNS)
    await upgrade_database(engine)

    assert await differences_from_tables(engine) == []


@pytest.mark.mysql
async def test_a_latin1_table_of_the_original_service_is_adopted() -> None:
    async with fresh_mysql_database() as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f"{NODE_USERS_TABLE} DEFAULT CHARSET=latin1"))
            await insert_original_user(engine)

            await adopt_database(engine)
            await upgrade_database(engine)

            async with unit_of_work(engine) as uow:
                user = await uow.users.get_by_email(Email("dummy@gmail.com"))
                assert user is not None
                session_id = await sign_in(uow, user.id)
                updated = await uow.users.update_profile(
                    user.id,
                    ProfileChanges(name="Zoë 🚀"),
                    session_id=session_id,
                    now=DURING_SESSION,
                )
            assert updated is not None
            assert updated.name == "Zoë 🚀"
            assert updated.password_hash == PasswordHash(NODE_BCRYPT_HASH)
            differences = await differences_from_tables(engine)
        finally:
            await engine.dispose()

    # Converting latin1 to utf8mb4 widens TEXT to MEDIUMTEXT so that every stored
    # character still fits; that is the one difference such a database keeps.
    assert [(change[0], change[2], change[3]) for [change] in differences] == [
        ("modify_type", "users", "bio")
    ]
