"""Concurrency races (DESIGN 8) on the real server process and MySQL.

Many requests at once, through a bounded pool of connections: one registration per email,
one winner per refresh token, partial updates that do not overwrite each other, and many
logins side by side. No request ever gets a 5xx.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from infrastructure.persistence.engine import create_engine
from tests.system.processes import (
    bearer,
    environment,
    login,
    migrated_mysql_database,
    register,
    serving,
    tokens,
)

pytestmark = pytest.mark.mysql

EMAIL = "ada@example.com"
CONNECTIONS = 50
REGISTRATIONS = 30
REFRESHES = 10
PATCH_ROUNDS = 5
USERS = 50


@pytest.fixture
async def mysql_url(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_mysql_database(tmp_path) as url:
        yield url


async def fail_on_server_error(response: httpx.Response) -> None:
    if response.status_code >= 500:
        await response.aread()
        raise AssertionError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )


@pytest.fixture
async def http(mysql_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server on the fresh database; any 5xx fails the test where it happens."""
    # Room in the hash queue for every request at once: these tests race the requests, they do
    # not overload the hashing (tests/http/test_hash_queue.py does).
    env = environment(
        DATABASE_URL=mysql_url,
        AUTH_RATE_LIMIT="100000/minute",
        HASH_QUEUE_LIMIT=str(CONNECTIONS),
    )
    async with serving(env, tmp_path) as server, server.client(connections=CONNECTIONS) as client:
        client.event_hooks["response"].append(fail_on_server_error)
        yield client


async def count_users(database_url: str, email: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            statement = text("SELECT COUNT(*) FROM users WHERE email = :email")
            return int((await connection.execute(statement, {"email": email})).scalar_one())
    finally:
        await engine.dispose()


async def test_concurrent_registrations_of_one_email_make_one_account(
    http: httpx.AsyncClient, mysql_url: str
) -> None:
    responses = await asyncio.gather(
        *(register(http, EMAIL, name=f"Ada {n}") for n in range(REGISTRATIONS))
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (REGISTRATIONS - 1), statuses
    assert await count_users(mysql_url, EMAIL) == 1


async def test_concurrent_refreshes_with_one_token_have_one_winner_whose_tokens_work(
    http: httpx.AsyncClient,
) -> None:
    assert (await register(http, EMAIL)).status_code == 201
    _, refresh_token = tokens(await login(http, EMAIL))

    responses = await asyncio.gather(
        *(
            http.post("/users/refresh-token", json={"refreshToken": refresh_token})
            for _ in range(REFRESHES)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (REFRESHES - 1), statuses
    winner = next(response for response in responses if response.status_code == 200)
    access_token, new_refresh_token = tokens(winner)
    assert (await http.get("/users/profile", headers=bearer(access_token))).status_code == 200
    again = await http.post("/users/refresh-token", json={"refreshToken": new_refresh_token})
    assert again.status_code == 200, again.text


async def test_concurrent_updates_of_different_fields_both_survive(
    http: httpx.AsyncClient,
) -> None:
    assert (await register(http, EMAIL)).status_code == 201
    access_token, _ = tokens(await login(http, EMAIL))
    auth = bearer(access_token)

    for round_ in range(PATCH_ROUNDS):
        name, bio = f"Ada {round_}", f"Analyst, round {round_}"
        responses = await asyncio.gather(
            http.patch("/users/update-profile", json={"name": name}, headers=auth),
            http.patch("/users/update-profile", json={"bio": bio}, headers=auth),
        )
        assert [response.status_code for response in responses] == [200, 200]
        profile = (await http.get("/users/profile", headers=auth)).json()["data"]
        assert (profile["name"], profile["bio"]) == (name, bio)


async def test_concurrent_logins_of_many_users_all_succeed(http: httpx.AsyncClient) -> None:
    emails = [f"user{n}@example.com" for n in range(USERS)]
    registered = await asyncio.gather(*(register(http, email) for email in emails))
    assert {response.status_code for response in registered} == {201}

    responses = await asyncio.gather(*(login(http, email) for email in emails))

    assert [response.status_code for response in responses] == [200] * USERS
    assert [response.json()["data"]["user"]["email"] for response in responses] == emails
