"""GET /users/sessions and DELETE /users/sessions/{id}: a user sees where they are logged in
and ends any of those sessions, the current one included."""

import logging

import httpx
import pytest

from tests.http.conftest import (
    Tokens,
    bearer,
    cleared_cookie_attributes,
    login,
    profile_with,
    refresh_with,
    register,
    session_id_of,
    set_cookies,
    signed_in,
    tokens_of,
)

SESSION_FIELDS = {
    "id",
    "createdAt",
    "lastUsedAt",
    "expiresAt",
    "userAgent",
    "ip",
    "current",
    "amr",
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


async def list_sessions(api: httpx.AsyncClient, tokens: Tokens) -> httpx.Response:
    return await api.get("/users/sessions", headers=bearer(tokens.access))


async def revoke(api: httpx.AsyncClient, tokens: Tokens, session_id: str) -> httpx.Response:
    return await api.delete(f"/users/sessions/{session_id}", headers=bearer(tokens.access))


async def test_lists_the_callers_sessions_with_exactly_one_current(
    api: httpx.AsyncClient,
) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))
    stranger = await signed_in(api, email="grace@example.com")

    response = await list_sessions(api, caller)

    assert response.status_code == 200
    sessions = response.json()["data"]
    assert all(session.keys() == SESSION_FIELDS for session in sessions)
    assert {session["id"] for session in sessions} == {
        session_id_of(caller.access),
        session_id_of(other.access),
    }
    assert session_id_of(stranger.access) not in {session["id"] for session in sessions}
    assert [session["id"] for session in sessions if session["current"] is True] == [
        session_id_of(caller.access)
    ]
    assert all(session["current"] in (True, False) for session in sessions)


async def test_a_session_shows_where_it_was_started(api: httpx.AsyncClient) -> None:
    await register(api)
    tokens = tokens_of(
        await api.post(
            "/users/login",
            json={"email": "ada@example.com", "password": "correct horse battery staple"},
            headers={"User-Agent": BROWSER},
        )
    )

    (session,) = (await list_sessions(api, tokens)).json()["data"]

    assert session["userAgent"] == BROWSER
    assert session["ip"] == "127.0.0.1"
    assert session["createdAt"] <= session["lastUsedAt"] < session["expiresAt"]


async def test_a_logged_out_session_is_not_listed(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))
    await api.post("/users/logout", headers=bearer(other.access))

    sessions = (await list_sessions(api, caller)).json()["data"]

    assert [session["id"] for session in sessions] == [session_id_of(caller.access)]


async def test_revoking_another_own_session_ends_it_at_once(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))

    response = await revoke(api, caller, session_id_of(other.access))

    assert response.status_code == 200
    assert response.json()["data"] is None
    assert not set_cookies(response)
    assert (await profile_with(api, other.access)).status_code == 401
    assert (await refresh_with(api, other.refresh)).status_code == 401
    assert (await profile_with(api, caller.access)).status_code == 200
    assert (await refresh_with(api, caller.refresh)).status_code == 200


async def test_a_revoked_session_is_no_longer_listed(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))
    await revoke(api, caller, session_id_of(other.access))

    sessions = (await list_sessions(api, caller)).json()["data"]

    assert [session["id"] for session in sessions] == [session_id_of(caller.access)]


async def test_revoking_the_current_session_is_a_logout(client: httpx.AsyncClient) -> None:
    tokens = await signed_in(client)

    response = await client.delete(f"/users/sessions/{session_id_of(tokens.access)}")

    assert response.status_code == 200
    cookies = set_cookies(response)
    assert cookies["accessToken"].attributes == cleared_cookie_attributes("/")
    assert cookies["refreshToken"].attributes == cleared_cookie_attributes("/users")
    assert list(client.cookies) == ["deviceToken"]  # it names the browser, not the session
    assert (await profile_with(client, tokens.access)).status_code == 401
    assert (await refresh_with(client, tokens.refresh)).status_code == 401


async def test_another_users_session_is_404_and_keeps_working(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    stranger = await signed_in(api, email="grace@example.com")

    response = await revoke(api, caller, session_id_of(stranger.access))

    assert response.status_code == 404
    assert (await profile_with(api, stranger.access)).status_code == 200
    assert (await refresh_with(api, stranger.refresh)).status_code == 200


async def test_another_users_session_and_an_unknown_one_answer_alike(
    api: httpx.AsyncClient,
) -> None:
    caller = await signed_in(api)
    stranger = await signed_in(api, email="grace@example.com")

    foreign = await revoke(api, caller, session_id_of(stranger.access))
    unknown = await revoke(api, caller, "x" * 32)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("q8uKzJ0m7x8bEc7wG3qXcY4V2sLq0dTn", id="random"),
        pytest.param("s" * 300, id="longer-than-the-column"),
        pytest.param("caf%C3%A9%F0%9F%92%A5", id="non-ascii"),
        pytest.param("1%20OR%201%3D1", id="sql-ish"),
    ],
)
async def test_an_unknown_session_is_404(api: httpx.AsyncClient, session_id: str) -> None:
    caller = await signed_in(api)

    response = await revoke(api, caller, session_id)

    assert response.status_code == 404
    assert (await profile_with(api, caller.access)).status_code == 200


async def test_an_already_revoked_session_is_404(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))
    await revoke(api, caller, session_id_of(other.access))

    response = await revoke(api, caller, session_id_of(other.access))

    assert response.status_code == 404


async def test_sessions_without_a_token_are_401(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    listing = await api.get("/users/sessions")
    revoking = await api.delete(f"/users/sessions/{session_id_of(tokens.access)}")

    assert listing.status_code == revoking.status_code == 401
    assert (await profile_with(api, tokens.access)).status_code == 200


async def test_a_revoked_sessions_token_cannot_list_or_revoke(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))
    await revoke(api, caller, session_id_of(other.access))

    listing = await list_sessions(api, other)
    revoking = await revoke(api, other, session_id_of(caller.access))

    assert listing.status_code == revoking.status_code == 401
    assert (await profile_with(api, caller.access)).status_code == 200


async def test_a_session_revoked_event_is_logged(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = (await register(api)).json()["data"]["id"]
    caller = tokens_of(await login(api))
    other = tokens_of(await login(api))
    caplog.set_level(logging.INFO, logger="authsvc.security")

    await revoke(api, caller, session_id_of(other.access))

    events = [
        (record.event, record.user_id, record.session_id)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "authsvc.security"
    ]
    assert events == [("session_revoked", user_id, session_id_of(other.access))]
