"""What a browser relies on: cross-site changes refused (CSRF), CORS for the listed origins
only, token responses never cached, and tokens kept out of bodies when configured so."""

import httpx
import pytest

from tests.http.conftest import (
    BASE_URL,
    EMAIL,
    NEW_PASSWORD,
    PASSWORD,
    ClientFactory,
    bearer,
    change_password,
    login,
    register,
    set_cookies,
    signed_in,
    unchecked,
)

FOREIGN = "https://evil.example"
APP = "https://app.example"

UNSAFE_REQUESTS = [
    pytest.param("PATCH", "/users/update-profile", {"bio": "pwned"}, id="update-profile"),
    pytest.param("DELETE", "/users/profile", None, id="delete-profile"),
    pytest.param("POST", "/users/logout", None, id="logout"),
    pytest.param(
        "PATCH",
        "/users/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        id="change-password",
    ),
]


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, str] | None,
    headers: dict[str, str],
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


async def assert_unchanged(client: httpx.AsyncClient) -> None:
    """Still signed in, with the profile and password as they were."""
    profile = await client.get("/users/profile")
    assert profile.status_code == 200
    assert profile.json()["data"]["bio"] is None
    assert (await client.post("/users/refresh-token")).status_code == 200
    assert (await login(client, password=PASSWORD)).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE_REQUESTS)
async def test_a_cookie_authenticated_change_from_a_foreign_origin_is_403(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    await signed_in(client)

    response = await send(client, method, path, body, {"Origin": FOREIGN})

    assert response.status_code == 403
    assert response.json()["errors"] == []
    assert not set_cookies(response)
    await assert_unchanged(client)


async def test_a_cross_site_change_is_refused_before_its_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client)

    response = await client.patch(
        "/users/update-profile", json={"isAdmin": True}, headers={"Origin": FOREIGN}
    )

    assert response.status_code == 403


async def test_a_cross_site_request_does_not_count_against_the_client_limit(
    make_client: ClientFactory,
) -> None:
    client = await make_client(AUTH_RATE_LIMIT="5/minute")
    await signed_in(client)
    credentials = {"email": "ada@example.com", "password": PASSWORD}
    for _ in range(5):
        cross_site = await send(client, "POST", "/users/login", credentials, {"Origin": FOREIGN})
        assert cross_site.status_code == 403

    response = await login(client)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("null", id="null"),
        pytest.param("https://testserver.evil.example", id="suffixed-host"),
        pytest.param("https://evil-testserver", id="prefixed-host"),
        pytest.param("https://testserver:8443", id="other-port"),
        pytest.param("http://testserver", id="plain-http"),
    ],
)
async def test_look_alike_origins_are_foreign(client: httpx.AsyncClient, origin: str) -> None:
    await signed_in(client)

    response = await client.patch(
        "/users/update-profile", json={"bio": "pwned"}, headers={"Origin": origin}
    )

    assert response.status_code == 403


async def test_the_refresh_cookie_alone_is_enough_to_be_refused(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client)
    client.cookies.delete("accessToken")

    response = await client.post("/users/logout", headers={"Origin": FOREIGN})

    assert response.status_code == 403
    assert (await client.post("/users/refresh-token")).status_code == 200


async def test_revoking_a_session_from_a_foreign_origin_is_403(client: httpx.AsyncClient) -> None:
    await signed_in(client)
    sessions = await client.get("/users/sessions")
    (session_id,) = [session["id"] for session in sessions.json()["data"]]

    response = await client.delete(f"/users/sessions/{session_id}", headers={"Origin": FOREIGN})

    assert response.status_code == 403
    assert (await client.get("/users/profile")).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE_REQUESTS)
async def test_the_services_own_origin_is_allowed(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    await signed_in(client)

    response = await send(client, method, path, body, {"Origin": BASE_URL})

    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE_REQUESTS)
async def test_an_origin_listed_in_cors_origins_is_allowed(
    make_client: ClientFactory, method: str, path: str, body: dict[str, str] | None
) -> None:
    client = await make_client(CORS_ORIGINS=f"https://other.example, {APP}")
    await signed_in(client)

    response = await send(client, method, path, body, {"Origin": APP})

    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE_REQUESTS)
async def test_a_bearer_token_from_a_foreign_origin_is_403_too(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    tokens = await signed_in(api)

    response = await send(api, method, path, body, {"Origin": FOREIGN, **bearer(tokens.access)})

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/users/login", {"email": EMAIL, "password": PASSWORD}, id="login"),
        pytest.param(
            "/users/register",
            {"name": "Mallory", "email": "mallory@example.com", "password": PASSWORD},
            id="register",
        ),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": FOREIGN}, id="foreign-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site-without-origin"),
    ],
)
async def test_a_cross_site_login_or_register_without_cookies_is_403(
    api: httpx.AsyncClient, path: str, body: dict[str, str], headers: dict[str, str]
) -> None:
    await register(api)

    response = await api.post(path, json=body, headers=headers)

    assert response.status_code == 403
    assert not set_cookies(response)
    assert (await register(api, email="mallory@example.com")).status_code == 201


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none"])
async def test_a_browser_request_from_the_same_site_without_origin_is_allowed(
    api: httpx.AsyncClient, site: str
) -> None:
    await register(api)

    response = await api.post(
        "/users/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"Sec-Fetch-Site": site},
    )

    assert response.status_code == 200


async def test_a_read_from_a_foreign_origin_is_allowed(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    response = await client.get("/users/profile", headers={"Origin": FOREIGN})

    assert response.status_code == 200


async def test_a_request_without_origin_is_allowed(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    response = await client.patch("/users/update-profile", json={"bio": "mine"})

    assert response.status_code == 200


def preflight(origin: str, method: str = "PATCH") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type",
    }


async def test_a_preflight_from_a_listed_origin_is_allowed_with_credentials(
    make_client: ClientFactory,
) -> None:
    client = await make_client(CORS_ORIGINS=APP)

    with unchecked(client):
        response = await client.options("/users/update-profile", headers=preflight(APP))

    assert response.status_code < 300
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "PATCH" in response.headers["access-control-allow-methods"]


async def test_a_preflight_from_another_origin_is_not_allowed(
    make_client: ClientFactory,
) -> None:
    client = await make_client(CORS_ORIGINS=APP)

    with unchecked(client):
        response = await client.options("/users/update-profile", headers=preflight(FOREIGN))

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


async def test_without_cors_origins_no_origin_is_allowed(client: httpx.AsyncClient) -> None:
    with unchecked(client):
        response = await client.options("/users/update-profile", headers=preflight(APP))

    assert "access-control-allow-origin" not in response.headers


async def test_a_credentialed_read_from_a_listed_origin_may_be_read_by_it(
    make_client: ClientFactory,
) -> None:
    client = await make_client(CORS_ORIGINS=APP)
    await signed_in(client)

    allowed = await client.get("/users/profile", headers={"Origin": APP})
    foreign = await client.get("/users/profile", headers={"Origin": FOREIGN})

    assert allowed.headers["access-control-allow-origin"] == APP
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in foreign.headers


async def test_login_refresh_and_change_password_are_never_cached(
    client: httpx.AsyncClient,
) -> None:
    await register(client)

    responses = [
        await login(client),
        await client.post("/users/refresh-token"),
        await change_password(client),
    ]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert [response.headers.get("cache-control") for response in responses] == ["no-store"] * 3


async def test_without_tokens_in_body_the_cookies_carry_the_session(
    make_client: ClientFactory,
) -> None:
    client = await make_client(TOKENS_IN_BODY="false")
    await register(client)

    logged_in = await login(client)
    refreshed = await client.post("/users/refresh-token")
    changed = await change_password(client)

    assert logged_in.status_code == refreshed.status_code == changed.status_code == 200
    assert logged_in.json()["data"].keys() == {"user"}
    assert refreshed.json()["data"] == {}
    assert changed.json()["data"] == {}
    for response in (logged_in, refreshed, changed):
        cookies = set_cookies(response)
        assert cookies.keys() - {"deviceToken"} == {"accessToken", "refreshToken"}
        assert cookies["accessToken"].value not in response.text
        assert cookies["refreshToken"].value not in response.text
    assert (await client.get("/users/profile")).status_code == 200
    assert (await client.post("/users/refresh-token")).status_code == 200
    assert (await login(client, password=NEW_PASSWORD)).status_code == 200


BEHIND_TLS_PROXY = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}
"""What a proxy that took the request over plain http says; the test client itself speaks https."""


async def test_the_scheme_a_trusted_proxy_forwards_makes_the_own_origin(
    make_client: ClientFactory,
) -> None:
    api = await make_client(cookies=False, TRUSTED_PROXIES="127.0.0.1/32")
    await register(api)
    own_origin = BASE_URL.replace("https://", "http://")

    response = await api.post(
        "/users/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"Origin": own_origin, **BEHIND_TLS_PROXY},
    )

    assert response.status_code == 200


async def test_the_scheme_an_untrusted_peer_forwards_is_ignored(api: httpx.AsyncClient) -> None:
    await register(api)
    own_origin = BASE_URL.replace("https://", "http://")

    response = await api.post(
        "/users/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"Origin": own_origin, **BEHIND_TLS_PROXY},
    )

    assert response.status_code == 403
