"""Secrets stay out of logs, and an unexpected failure says nothing about its cause."""

import logging
from contextlib import AsyncExitStack

import httpx
import pytest
from dependency_injector import providers

from infrastructure.container import Container
from infrastructure.settings import Settings
from tests.http.conftest import (
    PASSWORD,
    base_env,
    bearer,
    login,
    refresh_with,
    register,
    serve,
    signed_in,
    tokens_of,
)


async def test_no_password_or_token_is_ever_logged(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_password = "a wrong password 123"
    first = await signed_in(api)
    await login(api, password=wrong_password)
    second = tokens_of(await refresh_with(api, first.refresh))
    await refresh_with(api, first.refresh)
    await api.post("/users/logout", headers=bearer(second.access))

    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)

    assert "login_failed" in logged
    for secret in (PASSWORD, wrong_password, first.access, first.refresh, second.access):
        assert secret not in logged
    assert second.refresh not in logged


async def failing_use_case(*_: object) -> None:
    raise RuntimeError("(1062) INSERT INTO users (email, password) VALUES ('a@b.co', '$2b$...')")


async def test_an_unexpected_error_is_a_bare_500_in_the_envelope(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    container = Container(settings=Settings.from_env(base_env(database_url), env_file=None))
    container.use_cases.register_user.override(providers.Object(failing_use_case))
    async with AsyncExitStack() as stack:
        client = await serve(stack, container, allow_server_errors=True)

        response = await register(client)

    assert response.status_code == 500
    body = response.json()
    assert (body["statusCode"], body["success"], body["data"]) == (500, False, None)
    assert body["message"] == "Internal server error"
    assert "INSERT" not in caplog.text
