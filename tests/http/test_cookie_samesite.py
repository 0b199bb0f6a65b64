"""COOKIE_SAMESITE sets the SameSite attribute of both token cookies, on setting and on
clearing alike (a browser keeps a cookie whose clearing differs in its attributes)."""

import httpx
import pytest

from tests.http.conftest import ClientFactory, change_password, login, register, set_cookies


@pytest.mark.parametrize("samesite", ["strict", "none"])
async def test_every_token_cookie_carries_the_configured_samesite(
    make_client: ClientFactory, samesite: str
) -> None:
    client = await make_client(COOKIE_SAMESITE=samesite)
    await register(client)

    responses = [
        await login(client),
        await client.post("/users/refresh-token"),
        await change_password(client),
        await client.post("/users/logout"),
    ]

    assert [response.status_code for response in responses] == [200] * 4
    for response in responses:
        cookies = set_cookies(response)
        assert cookies.keys() - {"deviceToken"} == {"accessToken", "refreshToken"}
        for cookie in cookies.values():
            assert cookie.attributes["samesite"] == samesite
            assert cookie.attributes["secure"] is True
            assert cookie.attributes["httponly"] is True


async def test_the_default_is_lax(client: httpx.AsyncClient) -> None:
    await register(client)

    response = await login(client)

    assert {cookie.attributes["samesite"] for cookie in set_cookies(response).values()} == {"lax"}
