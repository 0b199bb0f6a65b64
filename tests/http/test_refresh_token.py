import asyncio
import logging
from datetime import timedelta

import httpx
import pytest

from tests.fakes import FixedClock
from tests.http.conftest import (
    ClientFactory,
    login,
    profile_with,
    refresh_with,
    register,
    set_cookies,
    signed_in,
    tokens_of,
)

GRACE = timedelta(seconds=10)
"""REFRESH_REUSE_GRACE_SECONDS by default."""


async def test_refresh_with_the_cookie_answers_a_new_pair(client: httpx.AsyncClient) -> None:
    old = await signed_in(client)

    response = await client.post("/users/refresh-token")

    assert response.status_code == 200
    assert response.json()["data"].keys() == {"accessToken", "refreshToken"}
    new = tokens_of(response)
    assert new.access != old.access
    assert new.refresh != old.refresh


async def test_refresh_sets_both_cookies_and_is_never_cached(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    response = await client.post("/users/refresh-token")

    cookies = set_cookies(response)
    new = tokens_of(response)
    assert cookies["accessToken"].value == new.access
    assert cookies["accessToken"].attributes["path"] == "/"
    assert cookies["refreshToken"].value == new.refresh
    assert cookies["refreshToken"].attributes["path"] == "/users"
    assert response.headers["cache-control"] == "no-store"


async def test_the_refreshed_cookies_keep_the_browser_signed_in(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client)
    await client.post("/users/refresh-token")

    second = await client.post("/users/refresh-token")

    assert second.status_code == 200
    assert (await client.get("/users/profile")).status_code == 200


async def test_refresh_with_the_token_in_the_body(api: httpx.AsyncClient) -> None:
    old = await signed_in(api)

    response = await refresh_with(api, old.refresh)

    assert response.status_code == 200
    new = tokens_of(response)
    assert (await profile_with(api, new.access)).status_code == 200
    assert set_cookies(response).keys() == {"accessToken", "refreshToken"}


async def test_without_tokens_in_body_the_pair_travels_in_cookies_only(
    make_client: ClientFactory,
) -> None:
    client = await make_client(TOKENS_IN_BODY="false")
    await register(client)
    await login(client)

    response = await client.post("/users/refresh-token")

    assert response.status_code == 200
    assert not response.json()["data"]
    assert set_cookies(response).keys() == {"accessToken", "refreshToken"}
    assert (await client.get("/users/profile")).status_code == 200


async def test_an_access_token_is_no_refresh_token(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await refresh_with(api, tokens.access)

    assert response.status_code == 401


async def test_refresh_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/refresh-token")

    assert response.status_code == 401
    assert not set_cookies(response)


async def test_refresh_with_a_garbage_token_is_401(api: httpx.AsyncClient) -> None:
    response = await refresh_with(api, "not-a-token")

    assert response.status_code == 401


async def test_a_refresh_body_of_the_wrong_shape_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/users/refresh-token", json={"refreshToken": 42, "extra": 1})

    assert response.status_code == 400


async def test_reuse_after_the_grace_window_revokes_the_session(
    make_client: ClientFactory,
) -> None:
    clock = FixedClock()
    api = await make_client(cookies=False, adapters={"clock": clock})
    old = await signed_in(api)
    newest = tokens_of(await refresh_with(api, old.refresh))
    clock.advance(GRACE + timedelta(seconds=1))

    reuse = await refresh_with(api, old.refresh)

    assert reuse.status_code == 401
    assert not set_cookies(reuse)
    assert (await refresh_with(api, newest.refresh)).status_code == 401
    assert (await profile_with(api, newest.access)).status_code == 401


async def test_reuse_inside_the_grace_window_is_refused_and_revokes_nothing(
    make_client: ClientFactory,
) -> None:
    clock = FixedClock()
    api = await make_client(cookies=False, adapters={"clock": clock})
    old = await signed_in(api)
    newest = tokens_of(await refresh_with(api, old.refresh))
    clock.advance(GRACE)

    reuse = await refresh_with(api, old.refresh)

    assert reuse.status_code == 401
    assert not set_cookies(reuse)
    assert (await profile_with(api, newest.access)).status_code == 200
    assert (await refresh_with(api, newest.refresh)).status_code == 200


async def test_reuse_inside_the_grace_window_is_logged_with_the_clients_address_and_agent(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    old = await signed_in(api)
    await refresh_with(api, old.refresh)
    caplog.set_level(logging.INFO, logger="authsvc.security")

    await api.post(
        "/users/refresh-token",
        json={"refreshToken": old.refresh},
        headers={"User-Agent": "racing-tab/1.0\rforged=1"},
    )

    [event] = [record for record in caplog.records if record.name == "authsvc.security"]
    assert event.event == "refresh_token_replayed_in_grace"  # type: ignore[attr-defined]
    assert event.ip == "127.0.0.1"  # type: ignore[attr-defined]
    assert event.user_agent == "racing-tab/1.0\rforged=1"  # type: ignore[attr-defined]
    assert "user_agent=racing-tab/1.0?forged=1" in event.getMessage()
    assert old.refresh not in event.getMessage()


async def test_an_expired_access_token_is_401_and_the_refresh_token_renews_it(
    make_client: ClientFactory,
) -> None:
    clock = FixedClock()
    api = await make_client(cookies=False, adapters={"clock": clock}, ACCESS_TOKEN_EXPIRY="15m")
    tokens = await signed_in(api)

    clock.advance(timedelta(minutes=15, seconds=11))  # past the expiry and the 10 s leeway

    assert (await profile_with(api, tokens.access)).status_code == 401
    renewed = await refresh_with(api, tokens.refresh)
    assert renewed.status_code == 200
    assert (await profile_with(api, tokens_of(renewed).access)).status_code == 200


async def test_a_failed_refresh_leaves_the_browser_cookies_alone(
    client: httpx.AsyncClient,
) -> None:
    old = await signed_in(client)
    await client.post("/users/refresh-token")
    winning_cookies = dict(client.cookies)

    losing_tab = await client.post(
        "/users/refresh-token", headers={"Cookie": f"refreshToken={old.refresh}"}
    )

    assert losing_tab.status_code == 401
    assert not set_cookies(losing_tab)
    assert dict(client.cookies) == winning_cookies


async def test_of_two_simultaneous_refreshes_with_one_token_one_wins(
    api: httpx.AsyncClient,
) -> None:
    tokens = await signed_in(api)

    responses = await asyncio.gather(
        refresh_with(api, tokens.refresh), refresh_with(api, tokens.refresh)
    )

    assert sorted(response.status_code for response in responses) == [200, 401]
    [winner] = [response for response in responses if response.status_code == 200]
    assert (await profile_with(api, tokens_of(winner).access)).status_code == 200
    assert (await refresh_with(api, tokens_of(winner).refresh)).status_code == 200


async def test_sessions_of_one_user_rotate_independently(api: httpx.AsyncClient) -> None:
    first = await signed_in(api)
    second = tokens_of(await login(api))

    await refresh_with(api, first.refresh)

    assert (await refresh_with(api, second.refresh)).status_code == 200
