from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.ports import UnitOfWork, UnitOfWorkFactory
from domain.sessions import Session, new_session_id
from domain.users import Email, NewUser, PasswordHash, User
from infrastructure.persistence.database import open_database
from infrastructure.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from tests.databases import DATABASES, fresh_database, migrated

NewUserFactory = Callable[..., NewUser]
AddUser = Callable[..., Awaitable[User]]

SIGNED_IN_AT = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
SESSION_LIFETIME = timedelta(days=1)
DURING_SESSION = SIGNED_IN_AT + timedelta(minutes=1)
"""A time at which the sessions of `sign_in` are active."""
BCRYPT_HASH = "$2b$04$abcdefghijklmnopqrstuuJ1dSwjb2z3YkZEv4bL9AtqaK5BB6Uq6"


@pytest.fixture(params=[pytest.param("memory", id="memory"), *DATABASES])
async def uow_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[UnitOfWorkFactory]:
    """A unit of work factory on an empty store: in memory, or a fresh database at head through
    the adapter the service runs on it (SQLAlchemy on SQLite, asyncmy on MySQL)."""
    if request.param == "memory":
        store = InMemoryStore()
        yield lambda: InMemoryUnitOfWork(store)
        return
    async with fresh_database(request.param, tmp_path) as url:
        database = open_database(await migrated(url))
        try:
            yield database.unit_of_work
        finally:
            await database.close()


@pytest.fixture
def adapter(request: pytest.FixtureRequest) -> str:
    """Which store `uow_factory` runs on: memory, sqlite or mysql."""
    return str(request.node.callspec.params["uow_factory"])


def make_new_user(
    email: str = "ada@example.com",
    name: str = "Ada",
    password_hash: str = BCRYPT_HASH,
    created_at: datetime = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC),
) -> NewUser:
    return NewUser(
        name=name,
        email=Email(email),
        password_hash=PasswordHash(password_hash),
        created_at=created_at,
    )


@pytest.fixture
def new_user() -> NewUserFactory:
    """A user to add, with every field defaulted."""
    return make_new_user


@pytest.fixture
def add_user(uow_factory: UnitOfWorkFactory) -> AddUser:
    """Stores a user made by `new_user(**fields)`."""

    async def add(**fields: object) -> User:
        async with uow_factory() as uow:
            return await uow.users.add(make_new_user(**fields))  # type: ignore[arg-type]

    return add


class Abandoned(Exception):
    """Raised inside a transaction to leave it by an exception."""


async def abandon_transaction(
    uow_factory: UnitOfWorkFactory, writes: Callable[[UnitOfWork], Awaitable[object]]
) -> None:
    """Makes `writes` in a transaction, then leaves it by an exception."""
    with pytest.raises(Abandoned):  # noqa: PT012 (the writes are the point, not the raise)
        async with uow_factory() as uow, uow.transaction():
            await writes(uow)
            raise Abandoned


async def sign_in(uow: UnitOfWork, user_id: int) -> str:
    """Adds a session of the user, active at DURING_SESSION and for SESSION_LIFETIME from
    SIGNED_IN_AT, and gives its id."""
    session = Session.start(
        session_id=new_session_id(),
        user_id=user_id,
        refresh_token="refresh-token",
        now=SIGNED_IN_AT,
        max_lifetime=SESSION_LIFETIME,
        user_agent=None,
        ip=None,
    )
    await uow.sessions.add(session)
    return session.id
