"""For the tests of one-shot commands (the `authsvc` subcommands, the example worker): a run
that keeps the exit status and both outputs apart, so that a test can check what a command
refuses and how it says so, and a login to check what it stored. Servers and the shared
environment are in processes.py."""

import asyncio
import subprocess
from pathlib import Path

import pytest

from application.authentication import LoginCommand, LoginResult
from infrastructure.container import Container, close_resources
from infrastructure.settings import Settings
from tests.databases import sqlite_url
from tests.system.processes import COMMAND_TIMEOUT_SECONDS, environment


async def run_command(
    *command: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Runs `command` to its end with `stdin` as its input (never a terminal)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
            stdout, stderr = await process.communicate(stdin.encode())
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return subprocess.CompletedProcess(
        list(command), process.returncode, stdout.decode(), stderr.decode()
    )


@pytest.fixture
def sqlite_environment(tmp_path: Path) -> dict[str, str]:
    """`environment()` on an SQLite database in the test's directory, not yet migrated."""
    return environment(DATABASE_URL=sqlite_url(tmp_path))


async def log_in(env: dict[str, str], email: str, password: str) -> LoginResult:
    """Logs in through the Login use case of a container built from `env`, as the service
    would; raises InvalidCredentials for a wrong password."""
    container = Container(settings=Settings.from_env(env, env_file=None))
    try:
        return await container.login()(LoginCommand(email=email, password=password))
    finally:
        await close_resources(container)
