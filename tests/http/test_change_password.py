"""PATCH /users/change-password: the new password takes over at once, every other session
ends, and the caller's session goes on with a fresh token pair."""

import logging

import httpx
import pytest

from tests.http.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    ClientFactory,
    bearer,
    change_password,
    error_fields,
    login,
    profile_with,
    refresh_with,
    register,
    set_cookies,
    signed_in,
    tokens_of,
)


async def test_change_password_answers_a_fresh_token_pair_never_cached(
    api: httpx.AsyncClient,
) -> None:
    old = await signed_in(api)

    response = await change_password(api, headers=bearer(old.access))

    assert response.status_code == 200
    assert response.json()["data"].keys() == {"accessToken", "refreshToken"}
    new = tokens_of(response)
    assert new.access != old.access
    assert new.refresh != old.refresh
    assert response.headers["cache-control"] == "no-store"


async def test_change_password_sets_both_cookies_to_the_new_tokens(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client)

    response = await change_password(client)

    cookies = set_cookies(response)
    new = tokens_of(response)
    assert cookies.keys() == {"accessToken", "refreshToken"}
    assert cookies["accessToken"].value == new.access
    assert cookies["accessToken"].attributes["path"] == "/"
    assert cookies["refreshToken"].value == new.refresh
    assert cookies["refreshToken"].attributes["path"] == "/users"
    assert (await client.get("/users/profile")).status_code == 200
    assert (await client.post("/users/refresh-token")).status_code == 200


async def test_the_new_tokens_work(api: httpx.AsyncClient) -> None:
    old = await signed_in(api)

    new = tokens_of(await change_password(api, headers=bearer(old.access)))

    assert (await profile_with(api, new.access)).status_code == 200
    assert (await refresh_with(api, new.refresh)).status_code == 200


async def test_every_other_session_of_the_user_ends_at_once(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))

    await change_password(api, headers=bearer(caller.access))

    assert (await profile_with(api, other.access)).status_code == 401
    assert (await refresh_with(api, other.refresh)).status_code == 401


async def test_the_callers_previous_refresh_token_stops_working(api: httpx.AsyncClient) -> None:
    old = await signed_in(api)
    new = tokens_of(await change_password(api, headers=bearer(old.access)))

    response = await refresh_with(api, old.refresh)

    assert response.status_code == 401
    assert (await profile_with(api, new.access)).status_code == 200


async def test_sessions_of_other_users_go_on(api: httpx.AsyncClient) -> None:
    caller = await signed_in(api)
    stranger = await signed_in(api, email="grace@example.com")

    await change_password(api, headers=bearer(caller.access))

    assert (await profile_with(api, stranger.access)).status_code == 200
    assert (await refresh_with(api, stranger.refresh)).status_code == 200


async def test_only_the_new_password_logs_in_afterwards(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    await change_password(api, headers=bearer(tokens.access))

    assert (await login(api, password=PASSWORD)).status_code == 401
    assert (await login(api, password=NEW_PASSWORD)).status_code == 200


async def test_a_wrong_current_password_is_401_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    caller = await signed_in(api)
    other = tokens_of(await login(api))

    response = await change_password(
        api, current="not the current password", headers=bearer(caller.access)
    )

    assert response.status_code == 401
    assert not set_cookies(response)
    assert (await profile_with(api, other.access)).status_code == 200
    assert (await refresh_with(api, caller.refresh)).status_code == 200
    assert (await login(api, password=NEW_PASSWORD)).status_code == 401
    assert (await login(api, password=PASSWORD)).status_code == 200


async def test_wrong_current_passwords_count_against_the_login_limit(
    make_client: ClientFactory,
) -> None:
    api = await make_client(cookies=False, LOGIN_MAX_FAILURES="2")
    tokens = await signed_in(api)
    for _ in range(2):
        await change_password(api, current="a wrong guess 1234", headers=bearer(tokens.access))

    response = await change_password(api, headers=bearer(tokens.access))

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert (await login(api, password=PASSWORD)).status_code == 429


async def test_a_new_password_equal_to_the_current_one_is_400(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await change_password(api, new=PASSWORD, headers=bearer(tokens.access))

    assert response.status_code == 400
    assert error_fields(response) == {"newPassword"}


@pytest.mark.parametrize(
    ("new_password", "says"),
    [
        pytest.param("short12", "at least 8", id="too-short"),
        pytest.param("password123", "too common", id="common"),
        pytest.param("Iloveyou1", "too common", id="common-any-case"),
        pytest.param("a" * 73, "72 bytes", id="73-ascii-bytes"),
        pytest.param("é" * 37, "72 bytes", id="74-utf8-bytes-in-37-characters"),
    ],
)
async def test_a_new_password_breaking_the_policy_is_400_and_changes_nothing(
    api: httpx.AsyncClient, new_password: str, says: str
) -> None:
    tokens = await signed_in(api)

    response = await change_password(api, new=new_password, headers=bearer(tokens.access))

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["newPassword"]
    assert says in response.json()["errors"][0]["message"]
    assert (await refresh_with(api, tokens.refresh)).status_code == 200
    assert (await login(api, password=PASSWORD)).status_code == 200


async def test_a_password_of_72_bytes_is_accepted_under_bcrypt(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    longest = "é" * 36

    response = await change_password(api, new=longest, headers=bearer(tokens.access))

    assert response.status_code == 200
    assert (await login(api, password=longest)).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param({}, {"currentPassword", "newPassword"}, id="empty"),
        pytest.param({"currentPassword": PASSWORD}, {"newPassword"}, id="no-new"),
        pytest.param({"newPassword": NEW_PASSWORD}, {"currentPassword"}, id="no-current"),
        pytest.param(
            {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "email": "x@example.com"},
            {"email"},
            id="unknown-field",
        ),
        pytest.param(
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            {"currentPassword", "newPassword", "current_password", "new_password"},
            id="snake-case",
        ),
        pytest.param(
            {"currentPassword": 12345678, "newPassword": None},
            {"currentPassword", "newPassword"},
            id="wrong-types",
        ),
    ],
)
async def test_missing_unknown_or_mistyped_fields_are_400(
    api: httpx.AsyncClient, body: dict[str, object], fields: set[str]
) -> None:
    tokens = await signed_in(api)

    response = await api.patch("/users/change-password", json=body, headers=bearer(tokens.access))

    assert response.status_code == 400
    assert error_fields(response) == fields
    assert (await login(api, password=PASSWORD)).status_code == 200


async def test_a_body_that_is_not_an_object_is_400(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await api.patch(
        "/users/change-password", json=[PASSWORD, NEW_PASSWORD], headers=bearer(tokens.access)
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="no-token"), pytest.param(bearer("not.a.token"), id="bad-token")],
)
async def test_change_password_without_a_valid_access_token_is_401(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await register(api)

    response = await change_password(api, headers=headers)

    assert response.status_code == 401
    assert (await login(api, password=PASSWORD)).status_code == 200


async def test_a_refresh_token_cannot_change_the_password(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)

    response = await change_password(api, headers=bearer(tokens.refresh))

    assert response.status_code == 401


async def test_a_password_changed_event_is_logged_without_the_passwords(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = (await register(api)).json()["data"]["id"]
    tokens = tokens_of(await login(api))
    caplog.set_level(logging.DEBUG)

    await change_password(api, headers=bearer(tokens.access))

    events = [
        record
        for record in caplog.records
        if record.name == "authsvc.security" and getattr(record, "event", None)
    ]
    assert [(record.event, record.user_id) for record in events] == [  # type: ignore[attr-defined]
        ("password_changed", user_id)
    ]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert PASSWORD not in logged
    assert NEW_PASSWORD not in logged
