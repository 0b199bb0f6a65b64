"""Scale-out (DESIGN 7): stateless processes that share MySQL and Redis, and a clean stop.

Two `authsvc serve` instances, A and B, with the same secrets run on one fresh MySQL database
and one Redis: whatever one instance issues, rotates, revokes or counts, the other sees. Then
one instance with two workers, and a SIGTERM that lets in-flight requests finish.
"""

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from tests.databases import RedisNamespace, redis_namespace, sqlite_url
from tests.system.processes import (
    PASSWORD,
    ServerProcess,
    bearer,
    environment,
    login,
    migrated_mysql_database,
    register,
    run_authsvc,
    serving,
    tokens,
)

EMAIL = "ada@example.com"
MAX_FAILURES = 3
CONCURRENT_REFRESHES = 10
SHUTDOWN_LOGINS = 6
SHUTDOWN_LIMIT_SECONDS = 10.0


@pytest.fixture
async def redis() -> AsyncIterator[RedisNamespace]:
    """The Redis of TEST_REDIS_URL (skipped or failed as the rate limiter's contract tests
    decide when it is unreachable), under a key prefix of this test's own."""
    async with redis_namespace() as namespace:
        yield namespace


@pytest.fixture
async def mysql_url(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_mysql_database(tmp_path) as url:
        yield url


@pytest.fixture
async def instances(
    redis: RedisNamespace, mysql_url: str, tmp_path: Path
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """A and B: one database, one Redis, one pair of secrets, two processes and ports."""
    env = environment(
        DATABASE_URL=mysql_url,
        REDIS_URL=redis.url,
        REDIS_KEY_PREFIX=redis.key_prefix,
        REFRESH_REUSE_GRACE_SECONDS="0",
        LOGIN_MAX_FAILURES=str(MAX_FAILURES),
        AUTH_RATE_LIMIT="10000/minute",
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(serving(env, tmp_path, name="a"))
        b = await stack.enter_async_context(serving(env, tmp_path, name="b"))
        assert a.port != b.port
        yield a, b


@pytest.fixture
async def clients(
    instances: tuple[ServerProcess, ServerProcess],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    a, b = instances
    async with a.client() as on_a, b.client() as on_b:
        yield on_a, on_b


@pytest.mark.mysql
@pytest.mark.redis
async def test_a_token_issued_by_one_instance_works_on_the_other(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    on_a, on_b = clients
    assert (await register(on_a, EMAIL)).status_code == 201
    access_token, refresh_token = tokens(await login(on_a, EMAIL))

    profile = await on_b.get("/users/profile", headers=bearer(access_token))
    assert profile.status_code == 200, profile.text
    assert profile.json()["data"]["email"] == EMAIL
    refreshed = await on_b.post("/users/refresh-token", json={"refreshToken": refresh_token})
    new_access_token, _ = tokens(refreshed)
    assert (await on_a.get("/users/profile", headers=bearer(new_access_token))).status_code == 200


@pytest.mark.mysql
@pytest.mark.redis
async def test_reuse_on_one_instance_of_a_token_rotated_on_the_other_revokes_the_session_on_both(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    on_a, on_b = clients
    assert (await register(on_a, EMAIL)).status_code == 201
    _, old_refresh_token = tokens(await login(on_a, EMAIL))
    new_access_token, new_refresh_token = tokens(
        await on_a.post("/users/refresh-token", json={"refreshToken": old_refresh_token})
    )
    # The grace window is 0 s, and rotation times are kept to the whole second.
    await asyncio.sleep(1.2)

    reused = await on_b.post("/users/refresh-token", json={"refreshToken": old_refresh_token})

    assert reused.status_code == 401, reused.text
    for http in (on_a, on_b):
        profile = await http.get("/users/profile", headers=bearer(new_access_token))
        assert profile.status_code == 401, profile.text
        refresh = await http.post("/users/refresh-token", json={"refreshToken": new_refresh_token})
        assert refresh.status_code == 401, refresh.text


@pytest.mark.mysql
@pytest.mark.redis
async def test_concurrent_refreshes_split_across_instances_have_exactly_one_winner(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    on_a = clients[0]
    assert (await register(on_a, EMAIL)).status_code == 201
    _, refresh_token = tokens(await login(on_a, EMAIL))

    responses = await asyncio.gather(
        *(
            http.post("/users/refresh-token", json={"refreshToken": refresh_token})
            for http in itertools.islice(itertools.cycle(clients), CONCURRENT_REFRESHES)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (CONCURRENT_REFRESHES - 1), statuses


@pytest.mark.mysql
@pytest.mark.redis
async def test_login_failures_counted_on_either_instance_throttle_both(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    on_a, on_b = clients
    assert (await register(on_a, EMAIL)).status_code == 201

    for http in itertools.islice(itertools.cycle(clients), MAX_FAILURES):
        assert (await login(http, EMAIL, "wrong password, surely")).status_code == 401

    for http in (on_b, on_a):
        throttled = await login(http, EMAIL)
        assert throttled.status_code == 429, throttled.text
        assert int(throttled.headers["Retry-After"]) > 0


@pytest.mark.mysql
async def test_two_workers_on_one_port_serve_and_stop_cleanly(
    mysql_url: str, tmp_path: Path
) -> None:
    env = environment(DATABASE_URL=mysql_url, AUTH_RATE_LIMIT="10000/minute")
    async with serving(env, tmp_path, workers=2) as server:
        async with server.client() as http:
            assert (await register(http, EMAIL)).status_code == 201
            access_token, _ = tokens(await login(http, EMAIL))
            responses = await asyncio.gather(
                *(http.get("/users/profile", headers=bearer(access_token)) for _ in range(20))
            )
            assert {response.status_code for response in responses} == {200}
        assert await server.stop() == 0, server.log_tail()


async def test_sigterm_lets_in_flight_requests_finish_and_exits_0(tmp_path: Path) -> None:
    """Logins at bcrypt cost 12 take ~0.25 s of hashing each, one per core at a time: of the
    six sent just before the SIGTERM, the last ones are still queued when it arrives (longer
    on a busy machine, where cost 14 outlasted the client's timeout). An attempt counts
    against the email's limit until its check is done, so the limit leaves room for all."""
    env = environment(
        DATABASE_URL=sqlite_url(tmp_path),
        BCRYPT_ROUNDS="12",
        LOGIN_MAX_FAILURES=str(SHUTDOWN_LOGINS),
    )
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
    async with serving(env, tmp_path) as server, server.client() as http:
        assert (await register(http, EMAIL)).status_code == 201

        requests_sent = 0
        all_sent = asyncio.Event()

        async def note_when_sent(event_name: str, info: dict[str, object]) -> None:
            nonlocal requests_sent
            if event_name == "http11.send_request_body.complete":
                requests_sent += 1
                if requests_sent == SHUTDOWN_LOGINS:
                    all_sent.set()

        async def login_and_note_when() -> tuple[int, float]:
            response = await http.post(
                "/users/login",
                json={"email": EMAIL, "password": PASSWORD},
                extensions={"trace": note_when_sent},
            )
            return response.status_code, time.monotonic()

        in_flight = [asyncio.create_task(login_and_note_when()) for _ in range(SHUTDOWN_LOGINS)]
        # Every login on the wire (connections opened, bodies written) before the signal, and
        # a moment for the server to read them: on a busy machine a fixed sleep was not enough.
        await asyncio.wait_for(all_sent.wait(), timeout=SHUTDOWN_LIMIT_SECONDS)
        await asyncio.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answers = await asyncio.gather(*in_flight, return_exceptions=True)
        exit_code = await server.stop(within=SHUTDOWN_LIMIT_SECONDS)
        stopped_after = time.monotonic() - signalled

    statuses = [answer[0] if isinstance(answer, tuple) else repr(answer) for answer in answers]
    assert statuses == [200] * SHUTDOWN_LOGINS, f"{statuses}\n{server.log_tail()}"
    answered_after = [answer[1] - signalled for answer in answers if isinstance(answer, tuple)]
    assert min(answered_after) > 0, "no request was still in flight at the SIGTERM"
    assert exit_code == 0, server.log_tail()
    assert stopped_after < SHUTDOWN_LIMIT_SECONDS
