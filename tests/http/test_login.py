import httpx

from tests.http.conftest import (
    EMAIL,
    NAME,
    USER_FIELDS,
    ClientFactory,
    bearer,
    error_fields,
    login,
    profile_with,
    register,
    set_cookies,
    signed_in,
    tokens_of,
)


async def test_login_answers_the_user_and_both_tokens(client: httpx.AsyncClient) -> None:
    await register(client)

    response = await login(client)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"].keys() == {"user", "accessToken", "refreshToken"}
    assert body["data"]["user"].keys() == USER_FIELDS
    assert (body["data"]["user"]["name"], body["data"]["user"]["email"]) == (NAME, EMAIL)
    assert body["data"]["accessToken"] != body["data"]["refreshToken"]


async def test_login_sets_both_cookies_with_their_exact_attributes(
    client: httpx.AsyncClient,
) -> None:
    await register(client)

    response = await login(client)

    cookies = set_cookies(response)
    tokens = response.json()["data"]
    assert cookies.keys() == {"accessToken", "refreshToken", "deviceToken"}
    assert cookies["accessToken"].value == tokens["accessToken"]
    assert cookies["accessToken"].attributes == {
        "httponly": True,
        "samesite": "lax",
        "path": "/",
        "max-age": "900",
        "secure": True,
    }
    assert cookies["refreshToken"].value == tokens["refreshToken"]
    assert cookies["refreshToken"].attributes == {
        "httponly": True,
        "samesite": "lax",
        "path": "/users",
        "max-age": "604800",
        "secure": True,
    }


async def test_cookie_lifetimes_follow_the_configured_expiries(
    make_client: ClientFactory,
) -> None:
    client = await make_client(ACCESS_TOKEN_EXPIRY="5m", REFRESH_TOKEN_EXPIRY="1d")
    await register(client)

    cookies = set_cookies(await login(client))

    assert cookies["accessToken"].attributes["max-age"] == "300"
    assert cookies["refreshToken"].attributes["max-age"] == "86400"


async def test_cookies_are_not_secure_when_configured_so(make_client: ClientFactory) -> None:
    client = await make_client(COOKIE_SECURE="false")
    await register(client)

    cookies = set_cookies(await login(client))

    assert "secure" not in cookies["accessToken"].attributes
    assert "secure" not in cookies["refreshToken"].attributes


async def test_a_login_response_is_never_cached(client: httpx.AsyncClient) -> None:
    await register(client)

    response = await login(client)

    assert response.headers["cache-control"] == "no-store"


async def test_wrong_password_and_unknown_email_fail_alike(client: httpx.AsyncClient) -> None:
    await register(client)

    wrong_password = await login(client, password="not the right password")
    unknown_email = await login(client, email="nobody@example.com")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json()["message"] == unknown_email.json()["message"]
    assert wrong_password.json()["errors"] == unknown_email.json()["errors"] == []
    assert not set_cookies(wrong_password)
    assert not set_cookies(unknown_email)


async def test_a_100_character_password_is_a_plain_401(client: httpx.AsyncClient) -> None:
    await register(client)

    response = await login(client, password="p" * 100)

    assert response.status_code == 401


async def test_a_password_over_72_bytes_of_utf8_is_a_plain_401(
    client: httpx.AsyncClient,
) -> None:
    await register(client)

    response = await login(client, password="é" * 37)

    assert response.status_code == 401


async def test_the_email_logs_in_whatever_its_case_and_spaces(client: httpx.AsyncClient) -> None:
    await register(client, email="ada@example.com")

    response = await login(client, email="  ADA@Example.Com ")

    assert response.status_code == 200
    assert response.json()["data"]["user"]["email"] == "ada@example.com"


async def test_a_malformed_login_body_is_400_naming_the_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/users/login", json={"email": 1, "remember": True})

    assert response.status_code == 400
    assert error_fields(response) == {"email", "password", "remember"}


async def test_an_invalid_email_is_400(client: httpx.AsyncClient) -> None:
    response = await login(client, email="not-an-email")

    assert response.status_code == 400
    assert error_fields(response) == {"email"}


async def test_without_tokens_in_body_only_the_cookies_carry_them(
    make_client: ClientFactory,
) -> None:
    client = await make_client(TOKENS_IN_BODY="false")
    await register(client)

    response = await login(client)

    assert response.status_code == 200
    assert response.json()["data"].keys() == {"user"}
    assert set_cookies(response).keys() == {"accessToken", "refreshToken", "deviceToken"}
    assert (await client.get("/users/profile")).status_code == 200


async def test_each_login_starts_a_session_of_its_own(api: httpx.AsyncClient) -> None:
    first = await signed_in(api)
    second = tokens_of(await login(api))

    await api.post("/users/logout", headers=bearer(second.access))

    assert (await profile_with(api, first.access)).status_code == 200
    assert (await profile_with(api, second.access)).status_code == 401
