"""CPU per unit of work of the persistence adapter on MySQL, without HTTP around it.

Makes a database of its own on the server (dropped afterwards), creates the schema, one user
and one session, then runs each kind of unit of work the hot requests make, many times in a
row on one event loop, and prints the process CPU time per unit of work (median of the
rounds) and the wall time beside it. The server runs on the same machine, so its own CPU is
not counted: only the service's share.

    .venv/bin/python bench/unit_of_work_cpu.py                       # root@127.0.0.1:3306
    .venv/bin/python bench/unit_of_work_cpu.py --server mysql+asyncmy://u:p@db:3306/ --units 5000

- profile: `find_active_user`, the session check of every authenticated request;
- patch: `update_profile` of one field, made while the session is active;
- refresh: the `rotate` compare-and-swap, the one statement of a token refresh.
"""

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from domain.sessions import Session, refresh_token_digest
from domain.users import Email, NewUser, PasswordHash, ProfileChanges
from infrastructure.persistence.database import open_database
from infrastructure.persistence.tables import metadata

UnitOfWorkRun = Callable[[int], Awaitable[None]]


async def measure(run: UnitOfWorkRun, units: int, rounds: int) -> tuple[float, float]:
    """Median CPU and wall microseconds per unit of work over `rounds` rounds of `units`."""
    await run(units // 10)  # warm-up: pooled connections, prepared statements
    cpu, wall = [], []
    for _ in range(rounds):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await run(units)
        cpu.append((time.process_time() - cpu_start) / units * 1e6)
        wall.append((time.perf_counter() - wall_start) / units * 1e6)
    return statistics.median(cpu), statistics.median(wall)


async def bench(database_url: str, units: int, rounds: int) -> None:
    database = open_database(database_url)
    now = datetime.now(UTC)
    async with database.unit_of_work() as uow:
        user = await uow.users.add(
            NewUser(
                name="Bench",
                email=Email(f"bench-{secrets.token_hex(4)}@example.com"),
                password_hash=PasswordHash("$2b$10$" + "x" * 53),
                created_at=now,
            )
        )
        session = Session.start(
            session_id=secrets.token_urlsafe(24),
            user_id=user.id,
            refresh_token="first",
            now=now,
            max_lifetime=timedelta(days=1),
            user_agent="bench",
            ip="127.0.0.1",
        )
        await uow.sessions.add(session)

    async def profile(count: int) -> None:
        for _ in range(count):
            async with database.unit_of_work() as uow:
                assert await uow.sessions.find_active_user(session.id, user.id, now)

    async def patch(count: int) -> None:
        for index in range(count):
            async with database.unit_of_work() as uow:
                changes = ProfileChanges(bio=f"bio {index}")
                assert await uow.users.update_profile(
                    user.id, changes, session_id=session.id, now=now
                )

    current_hash = session.refresh_token_hash

    async def refresh(count: int) -> None:
        nonlocal current_hash
        for index in range(count):
            new_hash = refresh_token_digest(f"token {index} {secrets.token_hex(4)}")
            async with database.unit_of_work() as uow:
                assert await uow.sessions.rotate(
                    session.id,
                    user_id=user.id,
                    expected_hash=current_hash,
                    new_hash=new_hash,
                    now=now,
                )
            current_hash = new_hash

    try:
        print(f"{units} units of work per round, median of {rounds} rounds")
        print(f"{'unit of work':<14}{'CPU us':>10}{'wall us':>10}")
        for name, run in (("profile", profile), ("patch", patch), ("refresh", refresh)):
            cpu, wall = await measure(run, units, rounds)
            print(f"{name:<14}{cpu:>10.1f}{wall:>10.1f}")
    finally:
        await database.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="mysql+asyncmy://root:@127.0.0.1:3306/")
    parser.add_argument("--units", type=int, default=3000)
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
        async with schema.begin() as connection:
            await connection.run_sync(metadata.create_all)
        await bench(database_url, arguments.units, arguments.rounds)
    finally:
        await schema.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
