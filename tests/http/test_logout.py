import httpx

from tests.http.conftest import (
    ClientFactory,
    bearer,
    cleared_cookie_attributes,
    profile_with,
    refresh_with,
    set_cookies,
    signed_in,
)


async def test_logout_answers_200_and_clears_both_cookies(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    response = await client.post("/users/logout")

    assert response.status_code == 200
    assert response.json()["data"] is None
    cookies = set_cookies(response)
    assert cookies.keys() == {"accessToken", "refreshToken"}
    assert cookies["accessToken"].value == ""
    assert cookies["accessToken"].attributes == cleared_cookie_attributes("/")
    assert cookies["refreshToken"].value == ""
    assert cookies["refreshToken"].attributes == cleared_cookie_attributes("/users")
    assert list(client.cookies) == ["deviceToken"]  # it names the browser, not the session


async def test_after_logout_both_tokens_fail_at_once(client: httpx.AsyncClient) -> None:
    tokens = await signed_in(client)

    await client.post("/users/logout")

    assert (await profile_with(client, tokens.access)).status_code == 401
    assert (await refresh_with(client, tokens.refresh)).status_code == 401


async def test_logout_with_a_bearer_token(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await api.post("/users/logout", headers=bearer(tokens.access))

    assert response.status_code == 200
    assert (await profile_with(api, tokens.access)).status_code == 401


async def test_logout_with_only_the_refresh_token_in_the_body(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await api.post("/users/logout", json={"refreshToken": tokens.refresh})

    assert response.status_code == 200
    assert (await profile_with(api, tokens.access)).status_code == 401
    assert (await refresh_with(api, tokens.refresh)).status_code == 401


async def test_logout_with_only_the_refresh_cookie(client: httpx.AsyncClient) -> None:
    tokens = await signed_in(client)
    client.cookies.delete("accessToken")

    response = await client.post("/users/logout")

    assert response.status_code == 200
    assert (await profile_with(client, tokens.access)).status_code == 401


async def test_logout_with_an_invalid_access_token_falls_back_to_the_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    tokens = await signed_in(client)
    client.cookies.set("accessToken", "expired-or-garbage", domain="testserver.local")

    response = await client.post("/users/logout")

    assert response.status_code == 200
    assert (await profile_with(client, tokens.access)).status_code == 401


async def test_logout_with_nothing_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/logout")

    assert response.status_code == 401


async def test_logout_with_a_rotated_away_refresh_token_is_401(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    await refresh_with(api, tokens.refresh)

    response = await api.post("/users/logout", json={"refreshToken": tokens.refresh})

    assert response.status_code == 401
    assert not set_cookies(response)


async def test_logout_ends_only_its_own_session(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False)
    first = await signed_in(api)
    second = await signed_in(api, email="grace@example.com")

    await api.post("/users/logout", headers=bearer(first.access))

    assert (await profile_with(api, second.access)).status_code == 200
