"""On MySQL, a statement that loses a race is not an outage: the MySQL adapter's error mapping,
first on a scripted connection that fails with the server's error codes, then with a real
deadlock on the test server.

Galera's certification failure reaches the client as the same 1213 as InnoDB's deadlock, so
a deadlock on one server stands for a lost race across a cluster's nodes."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncmy
import pytest
from asyncmy.errors import OperationalError
from sqlalchemy.engine import make_url

from application.ports import UnitOfWork
from domain.errors import EmailAlreadyRegistered, StorageUnavailable
from domain.sessions import Session, refresh_token_digest
from domain.users import Email, NewUser, PasswordHash
from infrastructure.persistence.mysql import MySqlDatabase
from infrastructure.persistence.repositories import CONFLICT_ATTEMPTS
from tests.databases import fresh_mysql_database, migrated

DEADLOCK, LOCK_WAIT_TIMEOUT, DUPLICATE_KEY = 1213, 1205, 1062
NODE_NOT_READY, SHUTTING_DOWN, CONNECTION_LOST = 1047, 1053, 2013
LOCK_WAIT_SECONDS = 10
NOW = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
ADA = NewUser(
    name="Ada",
    email=Email("ada@example.com"),
    password_hash=PasswordHash("$2b$04$abcdefghijklmnopqrstuuJ1dSwjb2z3YkZEv4bL9AtqaK5BB6Uq6"),
    created_at=NOW,
)


def server_error(code: int) -> OperationalError:
    error = OperationalError(code, f"error {code} from the server")
    error.sqlstate = "40001"
    return error


class ScriptedCursor:
    rowcount = 1
    lastrowid = 7

    def __init__(self, connection: "ScriptedConnection") -> None:
        self._connection = connection

    async def execute(self, sql: str, arguments: tuple[object, ...]) -> None:
        self._connection.statements.append(sql)
        self._connection.fail_next()

    async def fetchone(self) -> None:
        return None

    async def fetchall(self) -> list[tuple[object, ...]]:
        return []


class ScriptedConnection:
    """Fails its next statements with `errors`, in order, and its commits with
    `commit_errors`, then succeeds."""

    def __init__(self, errors: list[int]) -> None:
        self.loop = asyncio.get_running_loop()
        self.errors = errors
        self.commit_errors: list[int] = []
        self.statements: list[str] = []

    def fail_next(self, errors: list[int] | None = None) -> None:
        errors = self.errors if errors is None else errors
        if errors:
            raise server_error(errors.pop(0))

    def cursor(self) -> ScriptedCursor:
        return ScriptedCursor(self)

    async def begin(self) -> None:
        return None

    async def commit(self) -> None:
        self.fail_next(self.commit_errors)

    async def rollback(self) -> None:
        return None

    def close(self) -> None:
        return None


class ScriptedDatabase(MySqlDatabase):
    def __init__(self, connection: ScriptedConnection) -> None:
        super().__init__("mysql+asyncmy://scripted@127.0.0.1/scripted")
        self.connection = connection

    async def checkout(self) -> ScriptedConnection:  # type: ignore[override]
        return self.connection

    def checkin(self, connection: object) -> None:
        return None


def scripted(*errors: int) -> ScriptedDatabase:
    return ScriptedDatabase(ScriptedConnection(list(errors)))


def session_of(user_id: int, session_id: str) -> Session:
    return Session.start(
        session_id=session_id,
        user_id=user_id,
        refresh_token=f"token of {session_id}",
        now=NOW,
        max_lifetime=timedelta(days=1),
        user_agent=None,
        ip=None,
    )


async def revoke_all_in_a_transaction(uow: UnitOfWork) -> None:
    async with uow.transaction():
        await uow.sessions.revoke_all_for_user(1, NOW)


@pytest.mark.parametrize("code", [DEADLOCK, LOCK_WAIT_TIMEOUT])
async def test_a_write_that_lost_a_race_is_made_again(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    database = scripted(code)
    caplog.set_level(logging.INFO, "authsvc.storage")

    async with database.unit_of_work() as uow:
        revoked = await uow.sessions.revoke_all_for_user(1, NOW)

    assert revoked == 1
    first, second = database.connection.statements
    assert first == second
    assert f"statement lost to a concurrent write (MySQL error {code}), made again" in caplog.text


async def test_a_write_that_keeps_losing_is_storage_unavailable_after_a_bounded_number_of_tries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = scripted(*[DEADLOCK] * CONFLICT_ATTEMPTS)

    async with database.unit_of_work() as uow:
        with pytest.raises(StorageUnavailable):
            await uow.sessions.revoke(session_of(1, "s").id, NOW)

    assert len(database.connection.statements) == CONFLICT_ATTEMPTS
    assert f"statement lost to concurrent writes {CONFLICT_ATTEMPTS} times" in caplog.text


async def test_a_refresh_rotation_that_lost_a_race_has_lost_and_is_not_made_again() -> None:
    database = scripted(DEADLOCK)
    session = session_of(1, "s")

    async with database.unit_of_work() as uow:
        assert not await uow.sessions.rotate(
            session.id,
            user_id=session.user_id,
            expected_hash=session.refresh_token_hash,
            new_hash=refresh_token_digest("next token"),
            now=NOW,
        )

    assert len(database.connection.statements) == 1


async def test_a_registration_that_lost_a_race_to_the_same_email_is_email_taken() -> None:
    database = scripted(DEADLOCK, DUPLICATE_KEY)

    async with database.unit_of_work() as uow:
        with pytest.raises(EmailAlreadyRegistered):
            await uow.users.add(ADA)

    assert len(database.connection.statements) == 2


async def test_a_registration_that_lost_a_race_to_another_write_succeeds() -> None:
    database = scripted(DEADLOCK)

    async with database.unit_of_work() as uow:
        user = await uow.users.add(ADA)

    assert user.id == ScriptedCursor.lastrowid


async def test_inside_a_transaction_a_lost_race_is_not_made_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server rolled back the whole transaction: its earlier writes are gone too."""
    database = scripted(DEADLOCK)

    async with database.unit_of_work() as uow:
        with pytest.raises(StorageUnavailable):
            await revoke_all_in_a_transaction(uow)

    assert len(database.connection.statements) == 1
    assert "transaction lost to concurrent writes (MySQL error 1213)" in caplog.text


async def test_a_commit_that_lost_a_race_is_storage_unavailable_logged_as_a_conflict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = scripted()
    database.connection.commit_errors.append(DEADLOCK)

    async with database.unit_of_work() as uow:
        with pytest.raises(StorageUnavailable):
            await revoke_all_in_a_transaction(uow)

    assert "transaction lost to concurrent writes (MySQL error 1213)" in caplog.text


@pytest.mark.parametrize("code", [NODE_NOT_READY, SHUTTING_DOWN])
async def test_a_node_not_ready_is_storage_unavailable_with_a_line_of_its_own(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    database = scripted(code)

    async with database.unit_of_work() as uow:
        with pytest.raises(StorageUnavailable):
            await uow.users.get(1)

    assert len(database.connection.statements) == 1
    assert f"MySQL node not ready or shutting down (error {code})" in caplog.text
    assert "concurrent" not in caplog.text


async def test_an_outage_is_not_logged_as_a_conflict(caplog: pytest.LogCaptureFixture) -> None:
    database = scripted(CONNECTION_LOST)
    caplog.set_level(logging.INFO, "authsvc.storage")

    async with database.unit_of_work() as uow:
        with pytest.raises(StorageUnavailable):
            await uow.sessions.revoke_all_for_user(1, NOW)

    assert len(database.connection.statements) == 1
    assert "concurrent" not in caplog.text


@pytest.fixture
async def mysql_url() -> AsyncIterator[str]:
    async with fresh_mysql_database() as url:
        yield await migrated(url)


async def connect(url: str, *, autocommit: bool) -> asyncmy.Connection:
    """A connection of the test's own, beside the adapter's pool."""
    parsed = make_url(url)
    return await asyncmy.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        db=parsed.database,
        autocommit=autocommit,
    )


async def is_locked(connection: asyncmy.Connection, session_id: str) -> bool:
    """Whether another transaction holds the session's row lock, asked without waiting."""
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(
                "SELECT id FROM sessions WHERE id = %s FOR UPDATE NOWAIT", (session_id,)
            )
    except OperationalError as error:
        if error.args[0] == LOCK_WAIT_TIMEOUT:
            return True
        raise
    return False


@pytest.mark.mysql
async def test_a_real_deadlock_is_survived_by_making_the_statement_again(
    mysql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another transaction locks Ada's second session, then her first, while the adapter's
    revocation of all her sessions holds the first and waits for the second. InnoDB rolls back
    the smaller transaction, the revocation; made again, it revokes both."""
    caplog.set_level(logging.INFO, "authsvc.storage")
    # Time to see the lock wait on a busy machine before the adapter gives up waiting.
    database = MySqlDatabase(mysql_url, timeout_seconds=LOCK_WAIT_SECONDS)
    other = await connect(mysql_url, autocommit=False)
    watcher = await connect(mysql_url, autocommit=True)
    try:
        async with database.unit_of_work() as uow:
            ada = await uow.users.add(ADA)
            await uow.sessions.add(session_of(ada.id, "a-first"))
            await uow.sessions.add(session_of(ada.id, "b-second"))

        async with other.cursor() as cursor:
            # Many rows written make this transaction the larger, the one InnoDB keeps.
            for number in range(20):
                await cursor.execute(
                    "INSERT INTO users (name, email, password) VALUES ('x', %s, 'x')",
                    (f"heavy{number}@example.com",),
                )
            await cursor.execute("UPDATE sessions SET user_agent = 'other' WHERE id = 'b-second'")

            async def revoke_all() -> int:
                async with database.unit_of_work() as uow:
                    return await uow.sessions.revoke_all_for_user(ada.id, NOW)

            revocation = asyncio.create_task(revoke_all())
            async with asyncio.timeout(LOCK_WAIT_SECONDS):
                # The revocation holds the first session, on its way to the second: the server
                # announces no lock taken, so ask until it is.
                while not await is_locked(watcher, "a-first"):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await cursor.execute("UPDATE sessions SET user_agent = 'other' WHERE id = 'a-first'")
            await other.commit()

        assert await revocation == 2
    finally:
        other.close()
        watcher.close()
        await database.close()
    assert "statement lost to a concurrent write (MySQL error 1213), made again" in caplog.text
