"""Throttling through the API: failed logins per email (or per device), auth requests per
client IP, in process and in Redis (`TEST_REDIS_URL`, default redis://127.0.0.1:6379/15).

Each Redis test runs under a REDIS_KEY_PREFIX of its own, whose keys are deleted afterwards.
The test client's peer address is httpx.ASGITransport's default, 127.0.0.1."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from infrastructure.container import Container
from infrastructure.security.hashers import ThreadedPasswordHasher
from infrastructure.settings import Settings
from interfaces.http.app import create_app
from tests.databases import RedisNamespace, delete_keys, redis_namespace
from tests.fakes import CountingHasher, FixedClock
from tests.http.conftest import (
    BASE_URL,
    EMAIL,
    PASSWORD,
    ClientFactory,
    base_env,
    change_password,
    login,
    register,
    running,
    set_cookies,
)

PEER = "127.0.0.1"
MAX_FAILURES = 3
WRONG_PASSWORD = "not the right password"
PROXIED = {"TRUSTED_PROXIES": f"{PEER}/32"}


@pytest.fixture
async def redis() -> AsyncIterator[RedisNamespace]:
    """The test Redis, under a key prefix of this test's own."""
    async with redis_namespace() as namespace:
        yield namespace


def redis_settings(redis: RedisNamespace) -> dict[str, str]:
    return {"REDIS_URL": redis.url, "REDIS_KEY_PREFIX": redis.key_prefix}


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where the counters live: the settings that choose it."""
    if request.param == "memory":
        return {}
    return redis_settings(request.getfixturevalue("redis"))


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def login_from(
    client: httpx.AsyncClient, ip: str, *, email: str = "ada@example.com", password: str
) -> httpx.Response:
    return await client.post(
        "/users/login", json={"email": email, "password": password}, headers=from_ip(ip)
    )


async def fail_logins(
    client: httpx.AsyncClient, times: int = MAX_FAILURES, *, email: str = EMAIL
) -> None:
    """`times` logins of `email` with a wrong password, each a plain 401."""
    for _ in range(times):
        assert (await login(client, email=email, password=WRONG_PASSWORD)).status_code == 401


@pytest.fixture
def started() -> float:
    """The time before the test's first request: any window it meets opened after it."""
    return time.monotonic()


def assert_throttled(response: httpx.Response, *, window: int, opened_after: float) -> None:
    """A 429 in the envelope whose `Retry-After` is what is left, in whole seconds rounded up,
    of a `window`-second window that opened after `opened_after`."""
    assert response.status_code == 429
    body = response.json()
    assert (body["statusCode"], body["success"], body["data"], body["errors"]) == (
        429,
        False,
        None,
        [],
    )
    assert response.headers["retry-after"].isdigit()
    at_least = window - (time.monotonic() - opened_after)
    assert at_least <= int(response.headers["retry-after"]) <= window


async def test_after_the_allowed_failures_even_the_right_password_is_429(
    make_client: ClientFactory, store: dict[str, str], started: float
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    await register(client)
    await fail_logins(client)

    response = await login(client)

    assert_throttled(response, window=15 * 60, opened_after=started)


async def test_the_failures_before_the_limit_are_plain_401s(
    make_client: ClientFactory, store: dict[str, str]
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    await register(client)
    await fail_logins(client, MAX_FAILURES - 1)

    response = await login(client)

    assert response.status_code == 200


async def test_an_unknown_email_is_throttled_like_a_known_one(
    make_client: ClientFactory, store: dict[str, str], started: float
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    await fail_logins(client, email="nobody@example.com")

    response = await login(client, email="nobody@example.com", password=WRONG_PASSWORD)

    assert_throttled(response, window=15 * 60, opened_after=started)


async def test_the_email_limit_holds_whatever_ip_the_guesses_come_from(
    make_client: ClientFactory, store: dict[str, str], started: float
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **PROXIED, **store)
    await register(client)
    for attempt in range(MAX_FAILURES):
        failed = await login_from(client, f"203.0.113.{attempt + 1}", password=WRONG_PASSWORD)
        assert failed.status_code == 401

    response = await login_from(client, "198.51.100.77", password=PASSWORD)

    assert_throttled(response, window=15 * 60, opened_after=started)


async def test_the_email_limit_is_per_normalized_email(
    make_client: ClientFactory, store: dict[str, str]
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    await register(client)
    await register(client, email="grace@example.com")
    for spelling in ("ada@example.com", " ADA@example.com", "Ada@Example.COM "):
        await login(client, email=spelling, password=WRONG_PASSWORD)

    throttled = await login(client)
    other_user = await login(client, email="grace@example.com")

    assert throttled.status_code == 429
    assert other_user.status_code == 200


# Waiting out a window is database-independent; SQLite alone keeps the suite quick.
@pytest.mark.parametrize("database_url", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_after_the_window_the_right_password_works_again(
    make_client: ClientFactory, started: float
) -> None:
    clock = FixedClock(current=datetime.now(UTC))
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), adapters={"clock": clock})
    await register(client)
    await fail_logins(client)
    assert_throttled(await login(client), window=15 * 60, opened_after=started)

    clock.advance(timedelta(minutes=15))
    response = await login(client)

    assert response.status_code == 200


# Redis ends a window by its own clock: the test ends it by expiring the keys.
@pytest.mark.redis
@pytest.mark.parametrize("database_url", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_after_the_window_ends_in_redis_the_right_password_works_again(
    make_client: ClientFactory, redis: RedisNamespace
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **redis_settings(redis))
    await register(client)
    await fail_logins(client)
    assert (await login(client)).status_code == 429

    await delete_keys(redis.client, f"{redis.key_prefix}:*")
    response = await login(client)

    assert response.status_code == 200


async def test_a_successful_login_resets_the_count(
    make_client: ClientFactory, store: dict[str, str]
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    await register(client)
    await fail_logins(client, MAX_FAILURES - 1)
    assert (await login(client)).status_code == 200
    await fail_logins(client, MAX_FAILURES - 1)

    response = await login(client)

    assert response.status_code == 200


@pytest.mark.redis
async def test_instances_sharing_redis_share_the_email_count(
    make_client: ClientFactory, redis: RedisNamespace, started: float
) -> None:
    settings = {"LOGIN_MAX_FAILURES": str(MAX_FAILURES), **redis_settings(redis)}
    first, second = await make_client(**settings), await make_client(**settings)
    await register(first)
    for instance in (first, second, first):
        assert (await login(instance, password=WRONG_PASSWORD)).status_code == 401

    response = await login(second)

    assert_throttled(response, window=15 * 60, opened_after=started)


@pytest.mark.redis
async def test_deployments_with_other_key_prefixes_count_apart(
    make_client: ClientFactory, redis: RedisNamespace
) -> None:
    settings = {"LOGIN_MAX_FAILURES": str(MAX_FAILURES), "REDIS_URL": redis.url}
    first = await make_client(**settings, REDIS_KEY_PREFIX=redis.key_prefix)
    second = await make_client(**settings, REDIS_KEY_PREFIX=f"{redis.key_prefix}:other")
    await register(first)
    await fail_logins(first)

    response = await login(second)

    assert response.status_code == 200


async def test_instances_without_redis_count_on_their_own(make_client: ClientFactory) -> None:
    first = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES))
    second = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES))
    await register(first)
    await fail_logins(first)

    response = await login(second)

    assert response.status_code == 200


async def test_login_failed_and_login_throttled_events_are_logged(
    make_client: ClientFactory, store: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    caplog.set_level(logging.INFO, logger="authsvc.security")
    user_id = (await register(client)).json()["data"]["id"]
    await fail_logins(client)

    await login(client)

    events = [
        (record.event, record.user_id, record.ip, record.levelname)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "authsvc.security"
    ]
    assert events == [
        *[("login_failed", user_id, PEER, "WARNING")] * MAX_FAILURES,
        ("login_throttled", None, PEER, "WARNING"),
    ]
    assert PASSWORD not in caplog.text
    assert WRONG_PASSWORD not in caplog.text


# Per client IP: AUTH_RATE_LIMIT=5/minute, so the sixth request is one too many. The requests
# are logins of distinct unknown emails, each a plain 401, so that no email limit interferes.


async def auth_requests(client: httpx.AsyncClient, count: int, *, ip: str | None = None) -> None:
    for attempt in range(count):
        response = await client.post(
            "/users/login",
            json={"email": f"guess{attempt}@example.com", "password": WRONG_PASSWORD},
            headers=from_ip(ip) if ip else None,
        )
        assert response.status_code == 401


async def test_the_request_over_the_ip_limit_is_429(
    make_client: ClientFactory, store: dict[str, str], started: float
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute", **store)
    await auth_requests(client, 5)

    response = await login(client)

    assert_throttled(response, window=60, opened_after=started)


async def test_malformed_requests_count_and_are_throttled_like_any_other(
    make_client: ClientFactory, started: float
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute")
    for _ in range(5):
        assert (await client.post("/users/login", json={"email": "a@b.co"})).status_code == 400

    response = await client.post("/users/login", json={"email": "a@b.co"})

    assert_throttled(response, window=60, opened_after=started)


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param(
            ("/users/register", {"name": "A", "email": "a@b.co", "password": PASSWORD}),
            id="register",
        ),
        pytest.param(("/users/refresh-token", {"refreshToken": "not.a.token"}), id="refresh"),
    ],
)
async def test_the_ip_limit_covers_every_auth_endpoint(
    make_client: ClientFactory, request_body: tuple[str, dict[str, str]], started: float
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute")
    await auth_requests(client, 5)
    path, body = request_body

    response = await client.post(path, json=body)

    assert_throttled(response, window=60, opened_after=started)


async def test_the_ip_limit_does_not_cover_other_endpoints(make_client: ClientFactory) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute")
    await auth_requests(client, 5)

    response = await client.get("/users/profile")

    assert response.status_code == 401


async def test_a_client_behind_a_trusted_proxy_is_counted_by_its_forwarded_ip(
    make_client: ClientFactory,
    store: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    started: float,
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute", **PROXIED, **store)
    caplog.set_level(logging.INFO, logger="authsvc.security")
    await auth_requests(client, 5, ip="203.0.113.7")

    throttled = await login_from(client, "203.0.113.7", password=WRONG_PASSWORD)
    other_client = await login_from(client, "203.0.113.8", password=WRONG_PASSWORD)

    assert_throttled(throttled, window=60, opened_after=started)
    assert other_client.status_code == 401
    assert [
        (record.event, record.ip)  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "event", None) == "client_throttled"
    ] == [("client_throttled", "203.0.113.7")]


@pytest.mark.parametrize(
    ("settings", "first", "then"),
    [
        pytest.param({}, "203.0.113.7", "203.0.113.8", id="x-forwarded-for without proxies"),
        pytest.param(
            {"TRUSTED_PROXIES": "10.0.0.0/8"},
            "203.0.113.7",
            "203.0.113.8",
            id="x-forwarded-for from an untrusted peer",
        ),
        pytest.param(
            PROXIED,
            "198.51.100.1, 203.0.113.7",
            "198.51.100.2, 203.0.113.7",
            id="addresses a client prepends",
        ),
        pytest.param(PROXIED, "203.0.113.7", "::ffff:203.0.113.7", id="ipv4-mapped address"),
        pytest.param(PROXIED, "2001:db8:1:2::1", "2001:db8:1:2:ffff::1", id="one ipv6 /64"),
    ],
)
async def test_requests_counted_as_one_client(
    make_client: ClientFactory,
    store: dict[str, str],
    started: float,
    settings: dict[str, str],
    first: str,
    then: str,
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute", **settings, **store)
    await auth_requests(client, 5, ip=first)

    response = await login_from(client, then, password=WRONG_PASSWORD)

    assert_throttled(response, window=60, opened_after=started)


CONCURRENT_GUESSES = 20


async def test_concurrent_wrong_passwords_are_counted_before_they_are_verified(
    make_client: ClientFactory, store: dict[str, str]
) -> None:
    hasher = CountingHasher(ThreadedPasswordHasher(algorithm="bcrypt", bcrypt_rounds=4))
    client = await make_client(LOGIN_MAX_FAILURES="5", adapters={"hasher": hasher}, **store)
    await register(client)
    hasher.verifications = 0

    responses = await asyncio.gather(
        *(login(client, password=f"guess number {n}") for n in range(CONCURRENT_GUESSES))
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * 5 + [429] * (CONCURRENT_GUESSES - 5)
    assert hasher.verifications == 5


# Device cookies: a login sets one; presented with a login of the same email, the attempt is
# counted on the device's own allowance.


async def test_a_login_sets_a_signed_http_only_device_cookie(make_client: ClientFactory) -> None:
    client = await make_client(DEVICE_TOKEN_EXPIRY="30d")
    await register(client)

    response = await login(client)

    device = set_cookies(response)["deviceToken"]
    assert device.value.count(".") == 2
    assert device.attributes == {
        "httponly": True,
        "secure": True,
        "samesite": "lax",
        "path": "/users",
        "max-age": str(30 * 24 * 3600),
    }


async def fail_logins_as_a_stranger(client: httpx.AsyncClient) -> None:
    """Enough failed logins to lock the email out, sent through `client` without its cookies,
    as a stranger's client on another machine would send them."""
    own_cookies = client.cookies
    client.cookies = httpx.Cookies()
    try:
        await fail_logins(client)
        assert (await login(client)).status_code == 429
    finally:
        client.cookies = own_cookies


async def test_a_strangers_failures_do_not_lock_out_a_browser_that_logged_in_before(
    make_client: ClientFactory, store: dict[str, str]
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES), **store)
    await register(client)
    assert (await login(client)).status_code == 200
    await fail_logins_as_a_stranger(client)

    response = await login(client)

    assert response.status_code == 200


async def test_a_strangers_failures_do_not_block_the_owners_password_change(
    make_client: ClientFactory,
) -> None:
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES))
    await register(client)
    assert (await login(client)).status_code == 200
    await fail_logins_as_a_stranger(client)

    response = await change_password(client)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "device_of", [pytest.param(EMAIL, id="own"), pytest.param("mallory@example.com", id="other")]
)
async def test_failures_with_a_device_cookie_are_limited_too(
    make_client: ClientFactory, device_of: str
) -> None:
    """On the device's own allowance when it logged in with this email, else on the email's."""
    client = await make_client(LOGIN_MAX_FAILURES=str(MAX_FAILURES))
    await register(client, email=device_of)
    assert (await login(client, email=device_of)).status_code == 200
    await register(client)
    await fail_logins(client)

    response = await login(client)

    assert response.status_code == 429


async def test_logout_keeps_the_device_cookie(make_client: ClientFactory) -> None:
    client = await make_client()
    await register(client)
    await login(client)

    response = await client.post("/users/logout")

    assert response.status_code == 200
    assert "deviceToken" not in set_cookies(response)
    assert client.cookies.get("deviceToken", path="/users")


async def test_ipv6_clients_in_other_64_networks_are_counted_apart(
    make_client: ClientFactory, store: dict[str, str]
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute", **PROXIED, **store)
    await auth_requests(client, 5, ip="2001:db8:1:2::1")

    response = await login_from(client, "2001:db8:1:3::1", password=WRONG_PASSWORD)

    assert response.status_code == 401


@pytest.mark.parametrize("database_url", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_clients_without_an_address_are_throttled_too(database_url: str) -> None:
    """A UNIX socket gives no client address: such clients share one allowance."""
    settings = Settings.from_env(
        base_env(database_url) | {"AUTH_RATE_LIMIT": "5/minute"}, env_file=None
    )
    app = create_app(Container(settings=settings))
    transport = httpx.ASGITransport(app=app, client=None)  # type: ignore[arg-type]
    async with running(app), httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        await auth_requests(client, 5)

        response = await login(client)

    assert response.status_code == 429


async def test_a_forwarded_placeholder_is_not_taken_for_an_address(
    make_client: ClientFactory,
) -> None:
    client = await make_client(**PROXIED)
    await register(client)

    response = await login_from(client, "unknown", password=PASSWORD)

    assert response.status_code == 200
    sessions = await client.get("/users/sessions")
    assert [session["ip"] for session in sessions.json()["data"]] == [None]
