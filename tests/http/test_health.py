import time
from contextlib import AsyncExitStack

import httpx

from infrastructure.container import Container
from infrastructure.settings import Settings
from tests.http.conftest import base_env, login, register, serve

UNREACHABLE_MYSQL = "mysql+asyncmy://authsvc:secret@127.0.0.1:1/authsvc"
"""Port 1 on loopback: nothing listens there, so every connection is refused at once."""


async def test_live_answers_200_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["data"] is None


async def test_ready_answers_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["success"] is True


async def test_without_the_database_ready_and_requests_answer_503_quickly() -> None:
    settings = Settings.from_env(base_env(UNREACHABLE_MYSQL), env_file=None)
    async with AsyncExitStack() as stack:
        client = await serve(stack, Container(settings=settings), allow_server_errors=True)
        started = time.monotonic()

        ready = await client.get("/health/ready")
        registered = await register(client)
        logged_in = await login(client)
        live = await client.get("/health/live")

    assert time.monotonic() - started < 5
    for response in (ready, registered, logged_in):
        assert response.status_code == 503
        assert response.json()["statusCode"] == 503
        assert response.json()["success"] is False
    assert live.status_code == 200
