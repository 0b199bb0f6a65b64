import secrets

import pytest
from dependency_injector import providers

from application.accounts import RegisterCommand
from infrastructure.container import Container
from infrastructure.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from infrastructure.settings import Settings
from tests.fakes import FakeHasher


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


def test_every_provider_resolves(container: Container) -> None:
    container.check_dependencies()
    for name, provider in container.providers.items():
        assert provider() is not None, name


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
    assert container.password_policy().max_bytes == max_bytes


async def test_one_override_swaps_the_database_for_memory(container: Container) -> None:
    store = InMemoryStore()
    container.uow.override(providers.Object(lambda: InMemoryUnitOfWork(store)))
    container.hasher.override(providers.Object(FakeHasher()))
    user = await container.register_user()(
        RegisterCommand(name="Ada", email="ada@example.com", password="correct horse")
    )
    assert store.users[user.id].email == user.email
