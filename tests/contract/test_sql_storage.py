"""What the SQL adapters promise beyond the ports: outages become StorageUnavailable quickly,
the connection settings hold (UTC sessions on MySQL; foreign keys and WAL on SQLite), and a
dropped connection is replaced without anyone noticing."""

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from domain.errors import StorageUnavailable
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, User
from infrastructure.persistence.migrate import upgrade_database
from infrastructure.persistence.sql import SqlUnitOfWork, create_engine
from tests.databases import fresh_mysql_database, sqlite_url

ADA = NewUser(
    name="Ada",
    email=Email("ada@example.com"),
    password_hash=PasswordHash("$2b$04$abcdefghijklmnopqrstuuJ1dSwjb2z3YkZEv4bL9AtqaK5BB6Uq6"),
    created_at=datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC),
)
OUTAGE_DEADLINE_SECONDS = 10
"""Far above the engines' timeouts here: reaching it means a request would hang."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def expect_storage_unavailable(engine: AsyncEngine) -> None:
    async with asyncio.timeout(OUTAGE_DEADLINE_SECONDS):
        with pytest.raises(StorageUnavailable):
            async with SqlUnitOfWork(engine) as uow:
                await uow.users.get(1)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url(tmp_path / "nested" / "directory"), timeout_seconds=0.2)
    try:
        await upgrade_database(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def mysql_engine() -> AsyncIterator[AsyncEngine]:
    async with fresh_mysql_database() as url:
        engine = create_engine(url)
        try:
            await upgrade_database(engine)
            yield engine
        finally:
            await engine.dispose()


async def test_a_mysql_server_that_refuses_connections_is_storage_unavailable() -> None:
    engine = create_engine(f"mysql+asyncmy://root:@127.0.0.1:{free_port()}/authsvc")
    try:
        await expect_storage_unavailable(engine)
    finally:
        await engine.dispose()


async def test_a_mysql_server_that_never_answers_is_storage_unavailable() -> None:
    with socket.socket() as listener:
        # A listening socket nobody accepts from: the TCP connect succeeds, no greeting comes.
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        engine = create_engine(
            f"mysql+asyncmy://root:@127.0.0.1:{port}/authsvc", timeout_seconds=0.5
        )
        try:
            await expect_storage_unavailable(engine)
        finally:
            await engine.dispose()


async def test_sqlite_creates_the_databases_directory_with_foreign_keys_and_wal(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    async with sqlite_engine.connect() as connection:
        foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
        journal_mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()

    assert (tmp_path / "nested" / "directory" / "authsvc.db").is_file()
    assert (foreign_keys, journal_mode) == (1, "wal")


async def test_units_of_work_on_in_memory_sqlite_take_turns_on_its_one_connection() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        await upgrade_database(engine)
        writing = asyncio.Event()

        async def write_without_committing() -> None:
            async with SqlUnitOfWork(engine) as uow:
                await uow.users.add(ADA)
                writing.set()
                await asyncio.sleep(0.05)

        async def read() -> User | None:
            await writing.wait()
            async with SqlUnitOfWork(engine) as uow:
                return await uow.users.get_by_email(ADA.email)

        _, seen = await asyncio.gather(write_without_committing(), read())
        async with SqlUnitOfWork(engine) as uow:
            user = await uow.users.add(ADA)
            await uow.commit()
        async with SqlUnitOfWork(engine) as uow:
            stored = await uow.users.get(user.id)
    finally:
        await engine.dispose()

    assert seen is None
    assert stored == user


async def test_a_write_that_waits_too_long_for_sqlites_lock_is_storage_unavailable(
    sqlite_engine: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(sqlite_engine) as holder:
        await holder.users.add(ADA)
        with pytest.raises(StorageUnavailable):
            async with SqlUnitOfWork(sqlite_engine) as blocked:
                await blocked.users.add(
                    NewUser(
                        name="Grace",
                        email=Email("grace@example.com"),
                        password_hash=ADA.password_hash,
                        created_at=ADA.created_at,
                    )
                )


async def test_a_naive_datetime_is_refused_as_a_bug_not_stored(
    sqlite_engine: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(sqlite_engine) as uow:
        user = await uow.users.add(ADA)
        naive = datetime(2026, 1, 1, 10, 0, 0)
        session = Session(
            id="s" * 32,
            user_id=user.id,
            refresh_token_hash="a" * 64,
            created_at=naive,
            last_used_at=naive,
            expires_at=naive,
        )

        with pytest.raises(RuntimeError, match="database error"):
            await uow.sessions.add(session)


@pytest.mark.mysql
async def test_mysql_sessions_run_in_utc_so_timestamps_keep_their_instant(
    mysql_engine: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(mysql_engine) as uow:
        user = await uow.users.add(ADA)
        await uow.commit()

    async with mysql_engine.connect() as connection:
        time_zone = (await connection.execute(text("SELECT @@session.time_zone"))).scalar()
        epoch = (
            await connection.execute(
                text("SELECT UNIX_TIMESTAMP(created_at) FROM users WHERE id = :id"),
                {"id": user.id},
            )
        ).scalar()

    assert time_zone == "+00:00"
    assert epoch == ADA.created_at.timestamp()


@pytest.mark.mysql
async def test_a_pooled_mysql_connection_killed_by_the_server_is_replaced(
    mysql_engine: AsyncEngine,
) -> None:
    async with mysql_engine.connect() as connection:
        pooled_id = int((await connection.execute(text("SELECT CONNECTION_ID()"))).scalar_one())
    killer = create_async_engine(mysql_engine.url, poolclass=NullPool)
    try:
        async with killer.connect() as connection:
            await connection.execute(text(f"KILL {pooled_id}"))
    finally:
        await killer.dispose()

    async with SqlUnitOfWork(mysql_engine) as uow:
        user = await uow.users.add(ADA)
        await uow.commit()

    assert user.id == 1
