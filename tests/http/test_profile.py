import base64
import json
import secrets
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.http.conftest import (
    EMAIL,
    USER_FIELDS,
    ClientFactory,
    login,
    profile_with,
    register,
    signed_in,
)

ACCESS_SECRET = secrets.token_urlsafe(48)
"""64 bytes: long enough for HS512 too."""


def _segment(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def unsigned(claims: dict[str, Any]) -> str:
    """The same claims under `alg: none`, with an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


async def test_the_profile_is_read_with_the_access_cookie(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    response = await client.get("/users/profile")

    assert response.status_code == 200
    assert response.json()["data"].keys() == USER_FIELDS
    assert response.json()["data"]["email"] == EMAIL


async def test_the_profile_is_read_with_a_bearer_token(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await profile_with(api, tokens.access)

    assert response.status_code == 200
    assert response.json()["data"]["email"] == EMAIL


async def test_the_profile_matches_the_user_that_registered(client: httpx.AsyncClient) -> None:
    registered = (await register(client)).json()["data"]
    await login(client)

    profile = (await client.get("/users/profile")).json()["data"]

    assert profile == registered


async def test_without_a_token_the_profile_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/profile")

    assert response.status_code == 401
    assert response.json()["data"] is None


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Bearer a.b.c", "Bearer ", "Basic YWRhOnNlY3JldA==", "Bearer"],
)
async def test_a_garbage_authorization_is_401(api: httpx.AsyncClient, authorization: str) -> None:
    await signed_in(api)

    response = await api.get("/users/profile", headers={"Authorization": authorization})

    assert response.status_code == 401


async def test_an_access_token_under_alg_none_is_401(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    forged = unsigned(claims_of(tokens.access))

    response = await profile_with(api, forged)

    assert response.status_code == 401


async def test_a_refresh_token_is_no_access_token(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await profile_with(api, tokens.refresh)

    assert response.status_code == 401


async def test_a_refresh_token_in_the_access_cookie_is_401(client: httpx.AsyncClient) -> None:
    tokens = await signed_in(client)
    client.cookies.clear()
    client.cookies.set("accessToken", tokens.refresh, domain="testserver.local")

    response = await client.get("/users/profile")

    assert response.status_code == 401


async def test_a_token_signed_with_another_secret_is_401(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    forged = jwt.encode(claims_of(tokens.access), secrets.token_urlsafe(36), algorithm="HS256")

    response = await profile_with(api, forged)

    assert response.status_code == 401


async def test_a_token_signed_with_another_algorithm_is_401(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, ACCESS_TOKEN_SECRET=ACCESS_SECRET)
    tokens = await signed_in(api)
    forged = jwt.encode(claims_of(tokens.access), ACCESS_SECRET, algorithm="HS512")

    response = await profile_with(api, forged)

    assert response.status_code == 401


async def test_an_expired_access_token_is_401(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, ACCESS_TOKEN_SECRET=ACCESS_SECRET)
    tokens = await signed_in(api)
    an_hour_ago = int(time.time()) - 3600
    expired = jwt.encode(
        claims_of(tokens.access) | {"iat": an_hour_ago, "exp": an_hour_ago + 900},
        ACCESS_SECRET,
        algorithm="HS256",
    )

    response = await profile_with(api, expired)

    assert response.status_code == 401


async def test_a_token_for_another_audience_is_401(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, ACCESS_TOKEN_SECRET=ACCESS_SECRET)
    tokens = await signed_in(api)
    forged = jwt.encode(
        claims_of(tokens.access) | {"aud": "another-service"}, ACCESS_SECRET, algorithm="HS256"
    )

    response = await profile_with(api, forged)

    assert response.status_code == 401


async def test_a_token_of_an_unknown_session_is_401(make_client: ClientFactory) -> None:
    api = await make_client(cookies=False, ACCESS_TOKEN_SECRET=ACCESS_SECRET)
    tokens = await signed_in(api)
    forged = jwt.encode(
        claims_of(tokens.access) | {"sid": "no-such-session"}, ACCESS_SECRET, algorithm="HS256"
    )

    response = await profile_with(api, forged)

    assert response.status_code == 401


async def test_a_token_of_another_instance_with_the_same_secrets_works(
    make_client: ClientFactory,
) -> None:
    secrets_env = {
        "ACCESS_TOKEN_SECRET": ACCESS_SECRET,
        "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(36),
    }
    first = await make_client(cookies=False, **secrets_env)
    second = await make_client(cookies=False, **secrets_env)
    tokens = await signed_in(first)

    response = await profile_with(second, tokens.access)

    assert response.status_code == 200
