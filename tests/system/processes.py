"""`authsvc` as real processes for the system tests: a server on a free loopback port, and the
CLI's one-shot commands, driven from async tests without blocking their event loop.

    async with serving(environment(DATABASE_URL=url), tmp_path) as server:
        async with server.client() as http:
            response = await http.get("/health/ready")

Every server is stopped when its `async with` ends (SIGTERM, then SIGKILL after a bound), and
its output goes to a log file whose tail failing assertions can show.
"""

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx

from tests.databases import fresh_mysql_database

AUTHSVC = (sys.executable, "-m", "interfaces.cli.main")
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
COMMAND_TIMEOUT_SECONDS = 120.0
CLIENT_TIMEOUT_SECONDS = 15.0
CLIENT_CONNECTIONS = 32
PASSWORD = "correct horse battery staple"


def environment(**variables: str) -> dict[str, str]:
    """A minimal environment for `authsvc`: the test's import path, fast hashing, quiet logs and
    fresh secrets, then `variables` over them. Run `authsvc` in an empty directory
    (`tmp_path`), so that no `.env` file is read."""
    keep = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(48),
        "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        **variables,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


async def run_command(
    *command: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Runs `command` to its end with `stdin` as its input (never a terminal), keeping the
    exit status and both outputs apart."""
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
    assert process.returncode is not None
    return subprocess.CompletedProcess(
        list(command), process.returncode, stdout.decode(), stderr.decode()
    )


async def run_authsvc(*arguments: str, env: dict[str, str], cwd: Path) -> str:
    """Runs one CLI command that must succeed; returns its output, or fails the test with it."""
    result = await run_command(*AUTHSVC, *arguments, env=env, cwd=cwd)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"authsvc {' '.join(arguments)} failed:\n{output}"
    return output


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, *, connections: int = CLIENT_CONNECTIONS) -> httpx.AsyncClient:
        """A client of this server with a bounded pool and a timeout on every request. It keeps
        no cookies: each request carries exactly the tokens the test gives it."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            timeout=CLIENT_TIMEOUT_SECONDS,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_until_live(self, within: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health/live")).status_code == 200:
                        return
                if self.process.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError(f"authsvc serve did not start:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    async def stop(self, within: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM, then SIGKILL if the process is still there after `within` seconds; the
        exit code (negative: the signal that ended it)."""
        if self.process.returncode is None:
            self.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(within):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode

    def send_signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)


@asynccontextmanager
async def serving(
    env: dict[str, str], cwd: Path, *, workers: int = 1, name: str = "server"
) -> AsyncIterator[ServerProcess]:
    """`authsvc serve` on a free loopback port, live when this yields, stopped on leaving."""
    port = free_port()
    log_path = cwd / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *AUTHSVC,
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            str(workers),
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = ServerProcess(process, port, log_path)
    try:
        await server.wait_until_live()
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def migrated_mysql_database(cwd: Path) -> AsyncIterator[str]:
    """A fresh MySQL database (skipped or failed as tests/databases.py decides when there is no
    server) brought to head by `authsvc db upgrade`, as an operator would; dropped on leaving."""
    async with fresh_mysql_database() as url:
        await run_authsvc("db", "upgrade", env=environment(DATABASE_URL=url), cwd=cwd)
        yield url


async def register(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, name: str = "Ada"
) -> httpx.Response:
    return await http.post(
        "/users/register", json={"name": name, "email": email, "password": password}
    )


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/users/login", json={"email": email, "password": password})


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def tokens(login_or_refresh: httpx.Response) -> tuple[str, str]:
    """(access token, refresh token) from the body of a 200 login or refresh."""
    assert login_or_refresh.status_code == 200, login_or_refresh.text
    data = login_or_refresh.json()["data"]
    return data["accessToken"], data["refreshToken"]
