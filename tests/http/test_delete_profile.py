import httpx

from tests.http.conftest import (
    bearer,
    cleared_cookie_attributes,
    login,
    profile_with,
    refresh_with,
    register,
    set_cookies,
    signed_in,
    tokens_of,
)


async def test_delete_answers_200_and_clears_both_cookies(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    response = await client.delete("/users/profile")

    assert response.status_code == 200
    assert response.json()["data"] is None
    cookies = set_cookies(response)
    assert cookies["accessToken"].attributes == cleared_cookie_attributes("/")
    assert cookies["refreshToken"].attributes == cleared_cookie_attributes("/users")
    assert cookies["deviceToken"].attributes == cleared_cookie_attributes("/users")
    assert not client.cookies


async def test_after_delete_every_token_of_the_user_fails(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    other_session = tokens_of(await login(api))

    await api.delete("/users/profile", headers=bearer(tokens.access))

    assert (await profile_with(api, tokens.access)).status_code == 401
    assert (await refresh_with(api, tokens.refresh)).status_code == 401
    assert (await profile_with(api, other_session.access)).status_code == 401
    assert (await refresh_with(api, other_session.refresh)).status_code == 401


async def test_a_deleted_user_cannot_log_in(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    await client.delete("/users/profile")

    assert (await login(client)).status_code == 401


async def test_a_deleted_users_email_can_register_again(client: httpx.AsyncClient) -> None:
    await signed_in(client)
    await client.delete("/users/profile")

    response = await register(client)

    assert response.status_code == 201
    assert (await login(client)).status_code == 200


async def test_delete_twice_with_the_same_token_is_401(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    await api.delete("/users/profile", headers=bearer(tokens.access))

    response = await api.delete("/users/profile", headers=bearer(tokens.access))

    assert response.status_code == 401


async def test_delete_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.delete("/users/profile")

    assert response.status_code == 401
    assert not set_cookies(response)


async def test_delete_leaves_other_users_alone(api: httpx.AsyncClient) -> None:
    ada = await signed_in(api)
    grace = await signed_in(api, email="grace@example.com")

    await api.delete("/users/profile", headers=bearer(ada.access))

    assert (await profile_with(api, grace.access)).status_code == 200
