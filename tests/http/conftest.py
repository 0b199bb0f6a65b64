"""The HTTP API through Litestar's app, on SQLite and on MySQL, in the test's own event loop.

Each test gets a fresh database at head (on SQLite, a copy of one migrated once per session).
`make_client(**env)` builds the service on it from settings (any variable overridable) and
hands back an `httpx.AsyncClient` driving the app inside its lifespan, at an https origin so
Secure cookies round-trip. Every response the client sees is checked: never a 5xx (unless
asked for), always the envelope, and never the password sent, a stack trace or SQL in the body.

Helpers for the common steps (register, login, tokens, cookies) live here too; the test
modules import them.
"""

import asyncio
import base64
import json
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from dependency_injector import providers
from litestar import Litestar

from application.ports import EmailMessage
from infrastructure.container import Container
from infrastructure.persistence.database import open_database
from infrastructure.settings import Settings
from interfaces.http.app import create_app
from tests.databases import DATABASES, SQLITE_FILE, fresh_database, migrated, sqlite_url

BASE_URL = "https://testserver"
PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.com"
NAME = "Ada Lovelace"
USER_FIELDS = {"id", "name", "email", "bio", "contact", "createdAt", "emailVerified"}
ENVELOPE_FIELDS = {"statusCode", "data", "message", "success"}

_PASSWORD_KEYS = ("password", "currentPassword", "newPassword")
_LEAKS = re.compile(
    r"Traceback|sqlalchemy|asyncmy|aiosqlite|pymysql|"
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b",
    re.IGNORECASE,
)


def base_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(36),
        "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(36),
        "DATA_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "BCRYPT_ROUNDS": "4",
        "COOKIE_SECURE": "true",
        "LOG_LEVEL": "WARNING",
        # The outbox stays as the requests left it, for the tests to read; delivery is
        # tested on its own (tests/contract/test_mail_delivery.py, tests/system).
        "MAIL_POLL_INTERVAL": "off",
    }


def _passwords_sent(request: httpx.Request) -> list[str]:
    try:
        body = json.loads(request.content)
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    return [value for key in _PASSWORD_KEYS if isinstance(value := body.get(key), str) and value]


def response_checker(*, allow_server_errors: bool) -> Callable[[httpx.Response], Awaitable[None]]:
    """An httpx response hook holding every response to the rules of the whole API."""

    async def check(response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        where = f"{request.method} {request.url.path} -> {response.status_code}"
        if not allow_server_errors:
            assert response.status_code < 500, f"{where}: {response.text}"
        for password in _passwords_sent(request):
            assert password not in response.text, f"{where} echoes the password"
        assert not _LEAKS.search(response.text), f"{where} leaks internals: {response.text}"
        if request.url.path.startswith(("/users", "/health")):
            body = response.json()
            assert body.keys() >= ENVELOPE_FIELDS, f"{where}: not an envelope: {body}"
            assert body["statusCode"] == response.status_code, where
            assert body["success"] is (response.status_code < 400), where

    return check


def _cookieless_jar() -> CookieJar:
    """A jar that refuses every cookie, for a client that only sends what a test gives it."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app between its startup and shutdown, as a server runs it.

    The lifespan runs in a task of its own: pytest-asyncio sets a fixture up and tears it down
    in different tasks, and the lifespan's task group must be left in the task that entered it.
    """
    started, stopping = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stopping.wait()

    task = asyncio.create_task(lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # the startup failed: raise its error
    try:
        yield
    finally:
        stopping.set()
        await task


async def serve(
    stack: AsyncExitStack,
    container: Container,
    *,
    cookies: bool = True,
    allow_server_errors: bool = False,
) -> httpx.AsyncClient:
    """The app of `container`, started, behind a client; all closed with `stack`."""
    app = create_app(container)
    await stack.enter_async_context(running(app))
    return await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=BASE_URL,
            cookies=None if cookies else _cookieless_jar(),
            event_hooks={"response": [response_checker(allow_server_errors=allow_server_errors)]},
        )
    )


class ClientFactory(Protocol):
    async def __call__(
        self,
        *,
        cookies: bool = True,
        adapters: Mapping[str, object] | None = None,
        allow_server_errors: bool = False,
        **env: str,
    ) -> httpx.AsyncClient:
        """A client on the app built from the test settings with `env` on top. With
        `cookies=False` the client keeps no cookies: it sends only the tokens given to it.
        `adapters` replace the service's adapters of those names (a clock, a hasher).
        `allow_server_errors` is for a test that asserts the 503s it expects."""
        ...


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the head revision, made once: each test gets a copy of the file,
    which takes a fraction of a migration's time."""
    directory = tmp_path_factory.mktemp("template")
    asyncio.run(migrated(sqlite_url(directory)))
    return directory / SQLITE_FILE


@pytest.fixture(params=DATABASES)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A fresh database at the head revision."""
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / SQLITE_FILE)
        yield sqlite_url(tmp_path)
        return
    async with fresh_database(request.param, tmp_path) as url:
        yield await migrated(url)


@pytest.fixture
async def make_client(database_url: str) -> AsyncIterator[ClientFactory]:
    async with AsyncExitStack() as stack:

        async def make(
            *,
            cookies: bool = True,
            adapters: Mapping[str, object] | None = None,
            allow_server_errors: bool = False,
            **env: str,
        ) -> httpx.AsyncClient:
            settings = Settings.from_env(base_env(database_url) | env, env_file=None)
            container = Container(settings=settings)
            for name, adapter in (adapters or {}).items():
                getattr(container.adapters, name).override(providers.Object(adapter))
            return await serve(
                stack, container, cookies=cookies, allow_server_errors=allow_server_errors
            )

        yield make


class Mailbox:
    """The outbox of the test's database, read as a deliverer would: `take()` hands over the
    messages queued since the last call and deletes them."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    async def take(self) -> list[EmailMessage]:
        database = open_database(self._database_url)
        try:
            async with database.unit_of_work() as uow:
                # Far enough ahead to be past any test clock's time.
                later = datetime.now(UTC) + timedelta(days=3650)
                claimed = await uow.outbox.claim(now=later, limit=1000, lease=timedelta(minutes=1))
                for message in claimed:
                    await uow.outbox.delivered(message)
        finally:
            await database.close()
        return [message.message for message in claimed]


@pytest.fixture
def mailbox(database_url: str) -> Mailbox:
    return Mailbox(database_url)


@pytest.fixture
async def client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A browser-like client: it keeps the cookies the service sets."""
    return await make_client()


@pytest.fixture
async def api(make_client: ClientFactory) -> httpx.AsyncClient:
    """An API client: no cookie jar, tokens only where a test puts them."""
    return await make_client(cookies=False)


@dataclass(frozen=True, slots=True)
class Tokens:
    access: str
    refresh: str


async def register(
    client: httpx.AsyncClient, *, name: str = NAME, email: str = EMAIL, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/users/register", json={"name": name, "email": email, "password": password}
    )


async def login(
    client: httpx.AsyncClient, *, email: str = EMAIL, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/users/login", json={"email": email, "password": password})


async def signed_in(client: httpx.AsyncClient, *, email: str = EMAIL) -> Tokens:
    """Registers a user and logs in; the tokens of the response body."""
    assert (await register(client, email=email)).status_code == 201
    response = await login(client, email=email)
    assert response.status_code == 200
    return tokens_of(response)


def tokens_of(response: httpx.Response) -> Tokens:
    data = response.json()["data"]
    return Tokens(access=data["accessToken"], refresh=data["refreshToken"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def profile_with(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get("/users/profile", headers=bearer(access_token))


async def refresh_with(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/users/refresh-token", json={"refreshToken": refresh_token})


def error_fields(response: httpx.Response) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


@dataclass(frozen=True, slots=True)
class SetCookie:
    value: str
    attributes: dict[str, Any]


def set_cookies(response: httpx.Response) -> dict[str, SetCookie]:
    """The response's Set-Cookie headers by cookie name; attribute names lower-cased,
    flags (HttpOnly, Secure) as True."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        parsed: dict[str, Any] = {}
        for attribute in attributes:
            key, has_value, attribute_value = attribute.partition("=")
            key = key.lower()
            if key == "samesite":
                attribute_value = attribute_value.lower()
            parsed[key] = attribute_value if has_value else True
        cookies[name] = SetCookie(value=value.strip('"'), attributes=parsed)
    return cookies


def cleared_cookie_attributes(path: str) -> dict[str, Any]:
    return {"httponly": True, "secure": True, "samesite": "lax", "path": path, "max-age": "0"}


NEW_PASSWORD = "a brand new passphrase"


async def change_password(
    client: httpx.AsyncClient,
    *,
    current: str = PASSWORD,
    new: str = NEW_PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.patch(
        "/users/change-password",
        json={"currentPassword": current, "newPassword": new},
        headers=headers,
    )


def session_id_of(token: str) -> str:
    """The `sid` claim of a token the service issued (read, not verified)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sid"])


@contextmanager
def unchecked(client: httpx.AsyncClient) -> Iterator[httpx.AsyncClient]:
    """The client without the response checks, for answers outside the envelope contract
    (an empty 204 to a CORS preflight)."""
    hooks = client.event_hooks
    client.event_hooks = {"request": hooks["request"], "response": []}
    try:
        yield client
    finally:
        client.event_hooks = hooks


def record_responses(client: httpx.AsyncClient) -> list[httpx.Response]:
    """Every response the client receives from now on, read, in order."""
    responses: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        responses.append(response)

    client.event_hooks["response"].append(record)
    return responses
