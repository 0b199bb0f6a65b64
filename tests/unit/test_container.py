import secrets
from dataclasses import fields, replace

import pytest
from dependency_injector import providers

from application.accounts import RegisterCommand
from infrastructure.container import Container, Services, UseCases, provided, running
from infrastructure.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from infrastructure.security.breached_passwords import NoBreachCheck, PwnedPasswordsCheck
from infrastructure.settings import Settings
from tests.fakes import FakeHasher
from tests.unit.conftest import FakeAdapters


@pytest.fixture
def container(tmp_path) -> Container:
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/authsvc.db",
            "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(48),
            "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(48),
            "BCRYPT_ROUNDS": "4",
        },
        env_file=None,
    )
    return Container(settings=settings)


async def test_every_provider_resolves(container: Container) -> None:
    container.check_dependencies()
    async with running(container) as use_cases:
        for part in (container.adapters, container.use_cases):
            for name, provider in part.providers.items():
                assert await provided(provider) is not None, name
    assert all(getattr(use_cases, field.name) is not None for field in fields(Services))


def test_the_fake_adapters_provide_everything_the_use_cases_need() -> None:
    UseCases(adapters=FakeAdapters()).check_dependencies()


@pytest.mark.parametrize(("hasher", "max_bytes"), [("bcrypt", 72), ("argon2id", None)])
def test_the_password_policy_follows_the_hasher(
    container: Container, hasher: str, max_bytes: int | None
) -> None:
    settings = container.settings()
    container.settings.override(
        Settings.from_env(
            {
                "DATABASE_URL": settings.database_url,
                "ACCESS_TOKEN_SECRET": settings.access_token_secret,
                "REFRESH_TOKEN_SECRET": settings.refresh_token_secret,
                "PASSWORD_HASHER": hasher,
            },
            env_file=None,
        )
    )
    assert container.adapters.password_policy().max_bytes == max_bytes


@pytest.mark.parametrize(
    ("url", "adapter"),
    [(None, NoBreachCheck), ("https://api.pwnedpasswords.com/range", PwnedPasswordsCheck)],
)
async def test_the_breach_check_is_on_only_with_a_range_service(
    container: Container, url: str | None, adapter: type
) -> None:
    container.settings.override(replace(container.settings(), pwned_passwords_url=url))
    async with running(container):
        assert type(await provided(container.adapters.password_breach_check)) is adapter


async def test_one_override_swaps_the_database_for_memory(container: Container) -> None:
    store = InMemoryStore()
    container.adapters.uow.override(providers.Object(lambda: InMemoryUnitOfWork(store)))
    container.adapters.hasher.override(providers.Object(FakeHasher()))
    register_user = await provided(container.use_cases.register_user)
    user = await register_user(
        RegisterCommand(name="Ada", email="ada@example.com", password="correct horse")
    )
    assert store.users[user.id].email == user.email
