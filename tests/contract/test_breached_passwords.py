"""The PasswordBreachCheck adapters: none, and the k-anonymity range API, here a stub of it on a
loopback port that answers as the real service does, fails, or never answers."""

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from infrastructure.security.breached_passwords import NoBreachCheck, PwnedPasswordsCheck
from tests.pwned_passwords_stub import (
    BREACHED,
    UNKNOWN,
    RangeService,
    serving_range_service,
    sha1_hex,
)


@pytest.fixture
async def range_service() -> AsyncIterator[tuple[RangeService, str]]:
    async with serving_range_service() as service_and_url:
        yield service_and_url


@pytest.fixture
async def check(range_service: tuple[RangeService, str]) -> AsyncIterator[PwnedPasswordsCheck]:
    _, url = range_service
    adapter = PwnedPasswordsCheck(url, timeout_seconds=0.2)
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def test_a_password_in_the_range_is_breached(
    range_service: tuple[RangeService, str], check: PwnedPasswordsCheck
) -> None:
    service, _ = range_service
    service.breached = [BREACHED]

    assert await check.is_breached(BREACHED) is True


async def test_only_the_hash_prefix_leaves_the_service_and_padding_is_asked_for(
    range_service: tuple[RangeService, str], check: PwnedPasswordsCheck
) -> None:
    service, _ = range_service

    await check.is_breached(BREACHED)

    [(path, headers)] = service.requests
    assert path == f"/range/{sha1_hex(BREACHED)[:5]}"
    assert headers["add-padding"] == "true"


async def test_a_password_not_in_the_range_is_not_breached(
    range_service: tuple[RangeService, str], check: PwnedPasswordsCheck
) -> None:
    service, _ = range_service
    service.breached = [BREACHED]

    assert await check.is_breached(UNKNOWN) is False


async def test_padding_lines_do_not_count(check: PwnedPasswordsCheck) -> None:
    """The stub pads every range with UNKNOWN's suffix at count 0."""
    assert await check.is_breached(UNKNOWN) is False


@pytest.mark.parametrize("status", [500, 503, 429, 404, 302])
async def test_an_error_answer_fails_open_with_a_warning(
    range_service: tuple[RangeService, str],
    check: PwnedPasswordsCheck,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    service, _ = range_service
    service.breached, service.status = [BREACHED], status

    with caplog.at_level(logging.WARNING):
        assert await check.is_breached(BREACHED) is False

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"answered {status}" in record.getMessage()
    assert sha1_hex(BREACHED)[:5] not in record.getMessage()


async def test_a_service_that_never_answers_fails_open_after_the_timeout(
    range_service: tuple[RangeService, str],
    check: PwnedPasswordsCheck,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, _ = range_service
    service.breached, service.hang = [BREACHED], True

    with caplog.at_level(logging.WARNING):
        assert await check.is_breached(BREACHED) is False

    assert "unavailable" in caplog.records[0].getMessage()


async def test_an_unreachable_service_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    adapter = PwnedPasswordsCheck(f"http://127.0.0.1:{port}/range", timeout_seconds=0.2)

    with caplog.at_level(logging.WARNING):
        assert await adapter.is_breached(BREACHED) is False
    await adapter.aclose()

    assert "ConnectError" in caplog.records[0].getMessage()


async def test_without_a_range_service_no_password_is_breached() -> None:
    assert await NoBreachCheck().is_breached(BREACHED) is False
