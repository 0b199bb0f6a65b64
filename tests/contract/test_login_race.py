"""A login racing a password change, on every store: the login verified the old password, then
the change committed before the login wrote anything. The login must not start a session
(every other session ended with the change), nor write a rehash of the old password over the
new one. A hasher that pauses after verifying opens the window deterministically."""

import asyncio
from dataclasses import dataclass

import pytest
from dependency_injector import providers

from application.authentication import Login, LoginCommand
from application.ports import UnitOfWorkFactory
from domain.errors import InvalidCredentials
from domain.users import PasswordHash, User
from infrastructure.container import UseCases, resolve
from tests.contract.conftest import AddUser
from tests.fakes import FakeHasher, FixedClock
from tests.unit.conftest import PASSWORD, FakeAdapters

NEW_HASH = PasswordHash("fake$a brand new passphrase")


class PausingHasher(FakeHasher):
    """Verifies as FakeHasher, then waits until the test lets the login go on."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = asyncio.Event()
        self.resume = asyncio.Event()

    async def verify(self, password: str, password_hash: PasswordHash) -> bool:
        matches = await super().verify(password, password_hash)
        self.verified.set()
        await self.resume.wait()
        return matches


@dataclass
class Race:
    login: Login
    hasher: PausingHasher
    uow: UnitOfWorkFactory
    clock: FixedClock


@pytest.fixture
async def race(uow_factory: UnitOfWorkFactory) -> Race:
    adapters = FakeAdapters()
    hasher = PausingHasher()
    adapters.uow.override(providers.Object(uow_factory))
    adapters.hasher.override(providers.Object(hasher))
    services = await resolve(UseCases(adapters=adapters))
    return Race(login=services.login, hasher=hasher, uow=uow_factory, clock=adapters.clock())


async def login_while_the_password_changes(race: Race, user: User) -> None:
    """Starts a login with the right password, and once it has verified it, changes the
    password as ChangePassword does (new hash, every session ended); then lets it go on."""
    login = asyncio.create_task(
        race.login(LoginCommand(email=user.email.value, password=PASSWORD, ip="192.0.2.1"))
    )
    await race.hasher.verified.wait()
    async with race.uow() as uow, uow.transaction():
        await uow.users.set_password_hash(user.id, NEW_HASH)
        await uow.sessions.revoke_all_for_user(user.id, race.clock.now())
    race.hasher.resume.set()
    await login


async def test_a_login_that_verified_a_password_changed_meanwhile_starts_no_session(
    race: Race, add_user: AddUser
) -> None:
    user = await add_user(password_hash=f"fake${PASSWORD}")

    with pytest.raises(InvalidCredentials):
        await login_while_the_password_changes(race, user)

    async with race.uow() as uow:
        assert await uow.sessions.list_active(user.id, race.clock.now()) == []


async def test_a_login_does_not_write_the_old_password_rehashed_over_a_new_one(
    race: Race, add_user: AddUser
) -> None:
    user = await add_user(password_hash=f"outdated${PASSWORD}")  # FakeHasher rehashes it

    with pytest.raises(InvalidCredentials):
        await login_while_the_password_changes(race, user)

    async with race.uow() as uow:
        stored = await uow.users.get(user.id)
    assert stored is not None
    assert stored.password_hash == NEW_HASH
