"""Secrets through a whole account's life: every response (headers and body) and every log
record of a full flow is kept (all loggers, the service's logging set up at LOG_LEVEL=DEBUG),
and searched for passwords, tokens and password hashes; the database is searched for refresh tokens.

Passwords must appear nowhere. Tokens appear only where they are handed out: the bodies and
Set-Cookie headers of login, refresh and change-password. Hashes appear nowhere outside the
database, which keeps only the SHA-256 of each session's refresh token."""

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from infrastructure.logs import configure_logging
from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.tables import sessions, users
from tests.http.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    ClientFactory,
    Tokens,
    bearer,
    change_password,
    login,
    record_responses,
    refresh_with,
    register,
    session_id_of,
    tokens_of,
)

WRONG_PASSWORD = "a wrong guess 4567"
PASSWORDS = (PASSWORD, NEW_PASSWORD, WRONG_PASSWORD)
PASSWORD_HASH = re.compile(r"\$2[aby]\$\d\d\$|\$argon2(id|i|d)\$")
TOKEN_ENDPOINTS = {
    ("POST", "/users/login"),
    ("POST", "/users/refresh-token"),
    ("PATCH", "/users/change-password"),
}


@dataclass(frozen=True, slots=True)
class Flow:
    responses: list[httpx.Response]
    logs: list[str]
    """Each record: its message and every attribute (args, extra fields) as text."""
    tokens: list[Tokens]
    stored: dict[str, list[dict[str, Any]]]
    """Rows of `sessions` and `users` while two sessions were live."""
    current: dict[str, Tokens]
    """The tokens each live session had at that moment, by session id."""
    previous_refresh: str
    """The refresh token the first session had before changing the password."""


async def stored_rows(database_url: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return {
                table.name: [
                    dict(row) for row in (await connection.execute(select(table))).mappings()
                ]
                for table in (sessions, users)
            }
    finally:
        await engine.dispose()


def rendered(record: logging.LogRecord) -> str:
    return f"{record.getMessage()} {record.__dict__}"


@pytest.fixture
def hasher() -> str:
    """PASSWORD_HASHER for the flow; the tests about hashes run it with each algorithm."""
    return "bcrypt"


EACH_HASHER = pytest.mark.parametrize("hasher", ["bcrypt", "argon2id"])


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The service's own log setup at LOG_LEVEL=DEBUG, every record also kept by caplog."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("DEBUG", "json")
    root.addHandler(caplog.handler)
    try:
        yield
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
async def flow(
    make_client: ClientFactory,
    database_url: str,
    hasher: str,
    debug_logging: None,
    caplog: pytest.LogCaptureFixture,
) -> Flow:
    """Register, fail a login, log in, read and update the profile, refresh, change the
    password, log in elsewhere, list the sessions, revoke one, replay a spent refresh token,
    log out, log in again and delete the account."""
    api = await make_client(cookies=False, PASSWORD_HASHER=hasher)
    responses = record_responses(api)

    await register(api)
    await login(api, password=WRONG_PASSWORD)
    first = tokens_of(await login(api))
    await api.get("/users/profile", headers=bearer(first.access))
    await api.patch("/users/update-profile", json={"bio": "hi"}, headers=bearer(first.access))
    refreshed = tokens_of(await refresh_with(api, first.refresh))
    changed = tokens_of(await change_password(api, headers=bearer(refreshed.access)))
    elsewhere = tokens_of(await login(api, password=NEW_PASSWORD))
    await api.get("/users/sessions", headers=bearer(changed.access))
    stored = await stored_rows(database_url)
    await api.delete(
        f"/users/sessions/{session_id_of(elsewhere.access)}", headers=bearer(changed.access)
    )
    await refresh_with(api, refreshed.refresh)
    await api.post("/users/logout", headers=bearer(changed.access))
    last = tokens_of(await login(api, password=NEW_PASSWORD))
    await api.delete("/users/profile", headers=bearer(last.access))

    return Flow(
        responses=list(responses),
        logs=[rendered(record) for record in caplog.records],
        tokens=[first, refreshed, changed, elsewhere, last],
        stored=stored,
        current={
            session_id_of(changed.access): changed,
            session_id_of(elsewhere.access): elsewhere,
        },
        previous_refresh=refreshed.refresh,
    )


def every_token(flow: Flow) -> Iterator[str]:
    for tokens in flow.tokens:
        yield tokens.access
        yield tokens.refresh


def response_text(response: httpx.Response) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
    return f"{headers}\n\n{response.text}"


def route(path: str) -> str:
    return re.sub(r"^/users/sessions/.+", "/users/sessions/{id}", path)


def where(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.path} -> {response.status_code}"


async def test_the_flow_reaches_every_endpoint_as_planned(flow: Flow) -> None:
    steps = [
        (response.request.method, route(response.request.url.path), response.status_code)
        for response in flow.responses
    ]

    assert steps == [
        ("POST", "/users/register", 201),
        ("POST", "/users/login", 401),
        ("POST", "/users/login", 200),
        ("GET", "/users/profile", 200),
        ("PATCH", "/users/update-profile", 200),
        ("POST", "/users/refresh-token", 200),
        ("PATCH", "/users/change-password", 200),
        ("POST", "/users/login", 200),
        ("GET", "/users/sessions", 200),
        ("DELETE", "/users/sessions/{id}", 200),
        ("POST", "/users/refresh-token", 401),
        ("POST", "/users/logout", 200),
        ("POST", "/users/login", 200),
        ("DELETE", "/users/profile", 200),
    ]
    assert any("login_failed" in record for record in flow.logs)
    assert any("password_changed" in record for record in flow.logs)


async def test_no_password_appears_in_any_response(flow: Flow) -> None:
    leaks = [
        (where(response), password)
        for response in flow.responses
        for password in PASSWORDS
        if password in response_text(response)
    ]

    assert leaks == []


async def test_no_password_appears_in_any_log_record(flow: Flow) -> None:
    leaks = [
        (record, password) for record in flow.logs for password in PASSWORDS if password in record
    ]

    assert leaks == []


async def test_no_token_appears_in_any_log_record(flow: Flow) -> None:
    leaks = [record for record in flow.logs for token in every_token(flow) if token in record]

    assert leaks == []


async def test_tokens_appear_only_in_token_bodies_and_their_cookies(flow: Flow) -> None:
    leaks = []
    for response in flow.responses:
        hands_out_tokens = (response.request.method, response.request.url.path) in TOKEN_ENDPOINTS
        for token in every_token(flow):
            if token in response.text and not hands_out_tokens:
                leaks.append((where(response), "body"))
            for name, value in response.headers.multi_items():
                if token in value and not (hands_out_tokens and name == "set-cookie"):
                    leaks.append((where(response), name))

    assert leaks == []


async def test_each_token_response_carries_its_own_tokens_only(flow: Flow) -> None:
    handed_out = [
        response
        for response in flow.responses
        if (response.request.method, response.request.url.path) in TOKEN_ENDPOINTS
        and response.status_code == 200
    ]

    for response, tokens in zip(handed_out, flow.tokens, strict=True):
        others = [
            token for token in every_token(flow) if token not in (tokens.access, tokens.refresh)
        ]
        assert tokens.access in response.text, where(response)
        assert not [token for token in others if token in response_text(response)], where(response)


@EACH_HASHER
async def test_no_password_hash_appears_in_any_response(flow: Flow) -> None:
    leaks = [
        where(response)
        for response in flow.responses
        if PASSWORD_HASH.search(response_text(response))
    ]

    assert leaks == []


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)
@EACH_HASHER
async def test_no_password_hash_appears_in_any_log_record(flow: Flow) -> None:
    leaks = [record for record in flow.logs if PASSWORD_HASH.search(record)]

    assert leaks == []


async def test_the_database_keeps_only_the_sha256_of_refresh_tokens(flow: Flow) -> None:
    stored = {row["id"]: row for row in flow.stored["sessions"]}

    assert stored.keys() == flow.current.keys()
    for session_id, tokens in flow.current.items():
        assert stored[session_id]["refresh_token_hash"] == sha256(tokens.refresh)
    first_session = session_id_of(flow.tokens[2].access)
    assert stored[first_session]["previous_token_hash"] == sha256(flow.previous_refresh)
    every_value = str(flow.stored)
    assert [token for token in every_token(flow) if token in every_value] == []


@EACH_HASHER
async def test_the_database_keeps_no_password_in_plain_text(flow: Flow) -> None:
    (user,) = flow.stored["users"]

    assert PASSWORD_HASH.match(user["password"])
    assert [password for password in PASSWORDS if password in str(flow.stored)] == []


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The log output an operator configures (LOG_FORMAT, LOG_LEVEL) is what keeps security events
# structured and secrets out; building the app must not replace it (Litestar's default logging
# config used to, with its own handler at INFO).


@pytest.mark.parametrize("database_url", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_building_the_app_keeps_the_configured_log_output(
    make_client: ClientFactory,
) -> None:
    root = logging.getLogger()
    configured = logging.NullHandler()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = [configured]
    root.setLevel(logging.WARNING)
    try:
        await make_client()

        handlers, level = root.handlers[:], root.level
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)

    assert handlers == [configured]
    assert level == logging.WARNING
