"""What the SQL adapters promise beyond the ports: outages become StorageUnavailable quickly,
the connection settings hold (UTC sessions on MySQL; foreign keys and WAL on SQLite), a
dropped connection is replaced without anyone noticing, and on MySQL a dead one fails at most
the one unit of work that meets it."""

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports import UnitOfWorkFactory
from domain.errors import StorageUnavailable
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash, User
from infrastructure.container import Container, provided, running
from infrastructure.persistence import mysql
from infrastructure.persistence.database import Database
from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.migrate import upgrade_database
from infrastructure.persistence.mysql import MySqlDatabase
from infrastructure.persistence.sqlite import SqliteUnitOfWork
from infrastructure.settings import Settings
from tests.contract.conftest import Abandoned
from tests.databases import fresh_mysql_database, sqlite_url
from tests.system.tcp_proxy import Mode, TcpProxy

ADA = NewUser(
    name="Ada",
    email=Email("ada@example.com"),
    password_hash=PasswordHash("$2b$04$abcdefghijklmnopqrstuuJ1dSwjb2z3YkZEv4bL9AtqaK5BB6Uq6"),
    created_at=datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC),
)
OUTAGE_DEADLINE_SECONDS = 10
"""Far above the adapters' timeouts here: reaching it means a request would hang."""
SHORT_TIMEOUT_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def expect_storage_unavailable(unit_of_work: UnitOfWorkFactory) -> None:
    async with asyncio.timeout(OUTAGE_DEADLINE_SECONDS):
        with pytest.raises(StorageUnavailable):
            async with unit_of_work() as uow:
                await uow.users.get(1)


async def read_a_user(database: Database) -> None:
    async with database.unit_of_work() as uow:
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
async def mysql_url() -> AsyncIterator[str]:
    """A fresh MySQL database at head."""
    async with fresh_mysql_database() as url:
        engine = create_engine(url)
        try:
            await upgrade_database(engine)
        finally:
            await engine.dispose()
        yield url


@pytest.fixture
async def mysql_database(mysql_url: str) -> AsyncIterator[MySqlDatabase]:
    database = MySqlDatabase(mysql_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def proxied_mysql(mysql_url: str) -> AsyncIterator[tuple[TcpProxy, MySqlDatabase]]:
    """The database through a TCP proxy the test can silence, with short timeouts."""
    direct = make_url(mysql_url)
    async with TcpProxy(direct.host or "127.0.0.1", direct.port or 3306) as proxy:
        through_proxy = direct.set(host="127.0.0.1", port=proxy.port)
        database = MySqlDatabase(
            through_proxy.render_as_string(hide_password=False),
            timeout_seconds=SHORT_TIMEOUT_SECONDS,
        )
        try:
            yield proxy, database
        finally:
            await database.close()


async def silence_pooled_connections(proxy: TcpProxy) -> None:
    """The connections open now stay open but never hear back; new ones get through, as
    behind a firewall or NAT that forgot them while the server kept running."""
    await proxy.black_hole()
    proxy.mode = Mode.FORWARD


async def test_a_mysql_server_that_refuses_connections_is_storage_unavailable() -> None:
    database = MySqlDatabase(f"mysql+asyncmy://root:@127.0.0.1:{free_port()}/authsvc")
    try:
        await expect_storage_unavailable(database.unit_of_work)
    finally:
        await database.close()


async def test_a_mysql_server_that_never_answers_is_storage_unavailable() -> None:
    with socket.socket() as listener:
        # A listening socket nobody accepts from: the TCP connect succeeds, no greeting comes.
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        database = MySqlDatabase(
            f"mysql+asyncmy://root:@127.0.0.1:{port}/authsvc",
            timeout_seconds=SHORT_TIMEOUT_SECONDS,
        )
        try:
            await expect_storage_unavailable(database.unit_of_work)
        finally:
            await database.close()


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

        async def write_then_abandon() -> None:
            async with SqliteUnitOfWork(engine) as uow, uow.transaction():
                await uow.users.add(ADA)
                writing.set()
                await asyncio.sleep(0.05)
                raise Abandoned

        async def read() -> User | None:
            await writing.wait()
            async with SqliteUnitOfWork(engine) as uow:
                return await uow.users.get_by_email(ADA.email)

        abandoned, seen = await asyncio.gather(write_then_abandon(), read(), return_exceptions=True)
        assert isinstance(abandoned, Abandoned)
        async with SqliteUnitOfWork(engine) as uow:
            user = await uow.users.add(ADA)
        async with SqliteUnitOfWork(engine) as uow:
            stored = await uow.users.get(user.id)
    finally:
        await engine.dispose()

    assert seen is None
    assert stored == user


async def test_a_write_that_waits_too_long_for_sqlites_lock_is_storage_unavailable(
    sqlite_engine: AsyncEngine,
) -> None:
    async with SqliteUnitOfWork(sqlite_engine) as holder, holder.transaction():
        await holder.users.add(ADA)
        with pytest.raises(StorageUnavailable):
            async with SqliteUnitOfWork(sqlite_engine) as blocked:
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
    async with SqliteUnitOfWork(sqlite_engine) as uow:
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
    mysql_database: MySqlDatabase,
) -> None:
    async with mysql_database.unit_of_work() as uow:
        user = await uow.users.add(ADA)

    async with mysql_database.unit_of_work() as uow:
        time_zone = await uow.fetch_one(text("SELECT @@session.time_zone"), {})
        epoch = await uow.fetch_one(
            text("SELECT UNIX_TIMESTAMP(created_at) FROM users WHERE id = :id"), {"id": user.id}
        )

    assert time_zone == ("+00:00",)
    assert epoch == (ADA.created_at.timestamp(),)


@pytest.mark.mysql
async def test_a_naive_datetime_is_refused_on_mysql_too(mysql_database: MySqlDatabase) -> None:
    async with mysql_database.unit_of_work() as uow:
        with pytest.raises(RuntimeError, match="database error"):
            await uow.sessions.find_active_user("s" * 32, 1, datetime(2026, 1, 1, 10, 0, 0))


@pytest.mark.mysql
async def test_on_mysql_only_a_transaction_sends_transaction_statements(
    mysql_database: MySqlDatabase,
) -> None:
    """A read or a single write is one round trip: no BEGIN, no COMMIT around it."""

    async def transaction_statements() -> dict[str, int]:
        async with mysql_database.unit_of_work() as uow:
            counters = await uow.fetch_all(
                text(
                    "SHOW SESSION STATUS WHERE Variable_name IN"
                    " ('Com_begin', 'Com_commit', 'Com_rollback')"
                ),
                {},
            )
        return {name: int(value) for name, value in counters}

    before = await transaction_statements()
    async with mysql_database.unit_of_work() as uow:
        user = await uow.users.add(ADA)
        await uow.users.set_password_hash(user.id, ADA.password_hash)
    after_single_writes = await transaction_statements()
    async with mysql_database.unit_of_work() as uow, uow.transaction():
        await uow.users.set_password_hash(user.id, ADA.password_hash)
    after_a_transaction = await transaction_statements()

    assert after_single_writes == before
    assert after_a_transaction == {
        "Com_begin": before["Com_begin"] + 1,
        "Com_commit": before["Com_commit"] + 1,
        "Com_rollback": before["Com_rollback"],
    }


@pytest.mark.mysql
async def test_a_pooled_mysql_connection_killed_by_the_server_is_replaced(
    mysql_url: str, mysql_database: MySqlDatabase
) -> None:
    async with mysql_database.unit_of_work() as uow:
        (pooled_id,) = await uow.fetch_one(text("SELECT CONNECTION_ID()"), {}) or ()
    killer = create_engine(mysql_url)
    try:
        async with killer.connect() as connection:
            await connection.execute(text(f"KILL {pooled_id}"))
    finally:
        await killer.dispose()

    async with mysql_database.unit_of_work() as uow:
        user = await uow.users.add(ADA)

    assert user.id == 1


@pytest.mark.mysql
async def test_a_silent_pooled_connection_fails_one_unit_of_work_and_condemns_the_idle_ones(
    proxied_mysql: tuple[TcpProxy, MySqlDatabase],
) -> None:
    proxy, database = proxied_mysql
    await asyncio.gather(*(read_a_user(database) for _ in range(3)))
    assert proxy.open_connections > 1, "the pool should hold several connections"
    await silence_pooled_connections(proxy)

    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await read_a_user(database)
    failed_after = time.monotonic() - started
    started = time.monotonic()
    await read_a_user(database)
    recovered_after = time.monotonic() - started

    assert SHORT_TIMEOUT_SECONDS <= failed_after < 2 * SHORT_TIMEOUT_SECONDS
    assert recovered_after < SHORT_TIMEOUT_SECONDS, "a silent pooled connection was tried"


@pytest.mark.mysql
async def test_database_timeout_sets_how_long_the_service_waits_on_mysql(mysql_url: str) -> None:
    direct = make_url(mysql_url)
    async with TcpProxy(direct.host or "127.0.0.1", direct.port or 3306) as proxy:
        settings = Settings(
            database_url=direct.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            database_timeout=timedelta(seconds=SHORT_TIMEOUT_SECONDS),
            access_token_secret=secrets.token_urlsafe(32),
            refresh_token_secret=secrets.token_urlsafe(32),
            data_encryption_keys=(secrets.token_urlsafe(32),),
        )
        container = Container(settings=settings)
        async with running(container):
            database = await provided(container.adapters.database)
            await read_a_user(database)
            await silence_pooled_connections(proxy)
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await read_a_user(database)
            failed_after = time.monotonic() - started

    assert SHORT_TIMEOUT_SECONDS <= failed_after < 2 * SHORT_TIMEOUT_SECONDS


@pytest.mark.mysql
async def test_a_connection_idle_for_a_while_is_pinged_so_no_unit_of_work_fails(
    proxied_mysql: tuple[TcpProxy, MySqlDatabase], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, database = proxied_mysql
    await read_a_user(database)
    await silence_pooled_connections(proxy)
    monkeypatch.setattr(mysql, "IDLE_PING_SECONDS", 0.0)

    await read_a_user(database)


@pytest.mark.mysql
async def test_waiting_for_a_pooled_connection_is_bounded(mysql_url: str) -> None:
    database = MySqlDatabase(mysql_url, timeout_seconds=SHORT_TIMEOUT_SECONDS, pool_size=1)
    try:
        async with database.unit_of_work():
            started = time.monotonic()
            await expect_storage_unavailable(database.unit_of_work)
            waited = time.monotonic() - started
    finally:
        await database.close()

    assert SHORT_TIMEOUT_SECONDS <= waited < 2 * SHORT_TIMEOUT_SECONDS
