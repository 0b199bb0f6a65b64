"""With PWNED_PASSWORDS_URL set, register and change-password refuse a password known from a
breach, and go on without the check while the range service is down."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.http.conftest import (
    ClientFactory,
    bearer,
    change_password,
    error_fields,
    register,
    signed_in,
)
from tests.pwned_passwords_stub import BREACHED, RangeService, serving_range_service


@pytest.fixture
async def range_service(
    make_client: ClientFactory,
) -> AsyncIterator[tuple[RangeService, httpx.AsyncClient]]:
    """The stub knowing BREACHED, and an API client of a service configured to ask it."""
    async with serving_range_service() as (service, url):
        service.breached = [BREACHED]
        yield service, await make_client(cookies=False, PWNED_PASSWORDS_URL=url)


async def test_register_refuses_a_breached_password(
    range_service: tuple[RangeService, httpx.AsyncClient],
) -> None:
    _, api = range_service

    response = await register(api, password=BREACHED.value)

    assert response.status_code == 400
    assert error_fields(response) == {"password"}
    assert "breach" in response.json()["errors"][0]["message"]


async def test_change_password_refuses_a_breached_new_password(
    range_service: tuple[RangeService, httpx.AsyncClient],
) -> None:
    _, api = range_service
    tokens = await signed_in(api)

    response = await change_password(api, new=BREACHED.value, headers=bearer(tokens.access))

    assert response.status_code == 400
    assert error_fields(response) == {"newPassword"}


@pytest.mark.parametrize("status", [500, 503])
async def test_register_goes_on_while_the_range_service_fails(
    range_service: tuple[RangeService, httpx.AsyncClient], status: int
) -> None:
    service, api = range_service
    service.status = status

    response = await register(api, password=BREACHED.value)

    assert response.status_code == 201
    assert len(service.requests) == 1
