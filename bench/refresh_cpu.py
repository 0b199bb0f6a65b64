"""CPU per token refresh of the use case itself, on MySQL, without HTTP around it.

Makes a database of its own on the server (dropped afterwards), migrates it, builds the
service from settings as `authsvc serve` does (bcrypt cost 4), registers
and logs in one user, then refreshes many times in a row on one event loop, each refresh with
the token the previous one gave, as a client does. Beside it, for scale, the session check of
an authenticated request (`Authenticate`, its access token already verified once). Prints the
process CPU time per call (median of the rounds, and their range) and the wall time. The server
runs on the same machine, so its own CPU is not counted: only the service's share. No request
passes through HTTP, so no access line is written: the harness (compare.sh) measures refresh
with it.

    .venv/bin/python bench/refresh_cpu.py                          # root@127.0.0.1:3306
    .venv/bin/python bench/refresh_cpu.py --calls 2000 --rounds 7
"""

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from application.accounts import RegisterCommand
from application.authentication import AuthenticateCommand, LoginCommand, RefreshCommand
from infrastructure.container import Container, Services, running
from infrastructure.persistence.migrate import upgrade_database
from infrastructure.settings import Settings

PASSWORD = "correct horse battery staple"

Calls = Callable[[int], Awaitable[None]]


async def measure(run: Calls, calls: int, rounds: int) -> tuple[float, float, float, float]:
    """Median, lowest and highest CPU microseconds per call over `rounds` rounds of `calls`,
    and the median wall microseconds."""
    await run(calls // 10)  # warm-up: pooled connections, prepared statements
    cpu, wall = [], []
    for _ in range(rounds):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await run(calls)
        cpu.append((time.process_time() - cpu_start) / calls * 1e6)
        wall.append((time.perf_counter() - wall_start) / calls * 1e6)
    return statistics.median(cpu), min(cpu), max(cpu), statistics.median(wall)


async def bench(services: Services, calls: int, rounds: int) -> None:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    await services.register_user(RegisterCommand(name="Bench", email=email, password=PASSWORD))
    login = await services.login(LoginCommand(email=email, password=PASSWORD))
    refresh_token = login.tokens.refresh_token
    access_token = login.tokens.access_token

    async def refresh(count: int) -> None:
        nonlocal refresh_token
        for _ in range(count):
            tokens = await services.refresh_tokens(RefreshCommand(refresh_token=refresh_token))
            refresh_token = tokens.refresh_token

    async def authenticate(count: int) -> None:
        for _ in range(count):
            await services.authenticate(AuthenticateCommand(access_token=access_token))

    print(f"{calls} calls per round, {rounds} rounds")
    print(f"{'use case':<14}{'CPU us':>10}{'range':>16}{'wall us':>10}")
    for name, run in (("refresh", refresh), ("authenticate", authenticate)):
        cpu, low, high, wall = await measure(run, calls, rounds)
        print(f"{name:<14}{cpu:>10.1f}{f'{low:.1f}-{high:.1f}':>16}{wall:>10.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="mysql+asyncmy://root:@127.0.0.1:3306/")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    server = make_url(arguments.server)
    name = f"authsvc_bench_{secrets.token_hex(6)}"
    admin = create_async_engine(server.set(database=None), poolclass=NullPool)
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    database_url = server.set(database=name).render_as_string(hide_password=False)
    schema = create_async_engine(database_url, poolclass=NullPool)
    try:
        await upgrade_database(schema)
        settings = Settings.from_env(
            {
                "DATABASE_URL": database_url,
                "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(36),
                "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(36),
                "DATA_ENCRYPTION_KEY": secrets.token_urlsafe(32),
                "BCRYPT_ROUNDS": "4",
            },
            env_file=None,
        )
        async with running(Container(settings=settings)) as services:
            await bench(services, arguments.calls, arguments.rounds)
    finally:
        await schema.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
