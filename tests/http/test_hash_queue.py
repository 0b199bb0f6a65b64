"""A full password-hashing queue answers 503 with Retry-After at once, and the rest of the API
goes on serving."""

import asyncio
import threading
from collections.abc import Iterator

import bcrypt
import pytest

from tests.http.conftest import (
    ClientFactory,
    login,
    profile_with,
    register,
    signed_in,
    tokens_of,
)


class Gate:
    """Once closed, holds every bcrypt verification until opened again, and tells when one is
    held."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.opened = threading.Event()
        self.opened.set()

    def close(self) -> None:
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    async def wait_until_held(self) -> None:
        assert await asyncio.to_thread(self.held.wait, 10), "no verification reached bcrypt"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held_here = Gate()
    checkpw = bcrypt.checkpw

    def held_checkpw(password: bytes, hashed_password: bytes) -> bool:
        if not held_here.opened.is_set():
            held_here.held.set()
            held_here.opened.wait(timeout=10)
        return checkpw(password, hashed_password)

    monkeypatch.setattr(bcrypt, "checkpw", held_checkpw)
    try:
        yield held_here
    finally:
        held_here.open()


async def test_a_login_beyond_the_queue_is_refused_at_once_with_retry_after(
    make_client: ClientFactory, gate: Gate
) -> None:
    api = await make_client(cookies=False, allow_server_errors=True, HASH_QUEUE_LIMIT="1")
    tokens = await signed_in(api)
    gate.close()
    first = asyncio.create_task(login(api))
    await gate.wait_until_held()

    refused = await login(api)
    profile = await profile_with(api, tokens.access)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["message"] == "Service busy, try again shortly"
    assert profile.status_code == 200
    gate.open()
    assert (await first).status_code == 200
    assert (await login(api)).status_code == 200


async def test_a_registration_beyond_the_queue_is_refused(
    make_client: ClientFactory, gate: Gate
) -> None:
    api = await make_client(cookies=False, allow_server_errors=True, HASH_QUEUE_LIMIT="1")
    assert (await register(api)).status_code == 201
    gate.close()
    first = asyncio.create_task(login(api))
    await gate.wait_until_held()

    refused = await register(api, email="grace@example.com")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    gate.open()
    assert tokens_of(await first).access
    assert (await register(api, email="grace@example.com")).status_code == 201
