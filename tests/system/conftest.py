"""For the tests of one-shot commands (the `authsvc` subcommands, the example worker): an
SQLite environment, and a login to check what a command stored. Servers, command runs and the
shared environment are in processes.py."""

from pathlib import Path

import pytest

from application.authentication import LoginCommand, LoginResult
from infrastructure.container import Container, running
from infrastructure.settings import Settings
from tests.databases import sqlite_url
from tests.system.processes import environment


@pytest.fixture
def sqlite_environment(tmp_path: Path) -> dict[str, str]:
    """`environment()` on an SQLite database in the test's directory, not yet migrated."""
    return environment(DATABASE_URL=sqlite_url(tmp_path))


async def log_in(env: dict[str, str], email: str, password: str) -> LoginResult:
    """Logs in through the Login use case of a container built from `env`, as the service
    would; raises InvalidCredentials for a wrong password."""
    async with running(Container(settings=Settings.from_env(env, env_file=None))) as use_cases:
        return await use_cases.login(LoginCommand(email=email, password=password))
