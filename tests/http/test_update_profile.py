import asyncio
from typing import Any

import httpx
import pytest

from tests.http.conftest import (
    EMAIL,
    NAME,
    bearer,
    error_fields,
    login,
    profile_with,
    signed_in,
    tokens_of,
)


async def update(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.patch("/users/update-profile", json=body)


async def profile(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/users/profile")
    assert response.status_code == 200
    return response.json()["data"]


@pytest.fixture
async def signed_in_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await signed_in(client)
    return client


async def test_only_the_given_fields_change(signed_in_client: httpx.AsyncClient) -> None:
    client = signed_in_client
    before = await profile(client)

    response = await update(client, {"bio": "Analyst", "contact": "+44 (20) 7946-0000"})

    assert response.status_code == 200
    expected = before | {"bio": "Analyst", "contact": "+44 (20) 7946-0000"}
    assert response.json()["data"] == expected
    assert await profile(client) == expected


async def test_simultaneous_updates_of_different_fields_both_stay(
    signed_in_client: httpx.AsyncClient,
) -> None:
    client = signed_in_client

    await asyncio.gather(update(client, {"name": "Ada King"}), update(client, {"bio": "Analyst"}))

    after = await profile(client)
    assert (after["name"], after["bio"]) == ("Ada King", "Analyst")


async def test_the_name_is_trimmed(signed_in_client: httpx.AsyncClient) -> None:
    response = await update(signed_in_client, {"name": "  Ada King  "})

    assert response.status_code == 200
    assert (await profile(signed_in_client))["name"] == "Ada King"


async def test_null_clears_bio_and_contact(signed_in_client: httpx.AsyncClient) -> None:
    client = signed_in_client
    await update(client, {"bio": "Analyst", "contact": "0123"})

    response = await update(client, {"bio": None, "contact": None})

    assert response.status_code == 200
    after = await profile(client)
    assert (after["bio"], after["contact"], after["name"]) == (None, None, NAME)


async def test_a_four_byte_emoji_name_round_trips(signed_in_client: httpx.AsyncClient) -> None:
    response = await update(signed_in_client, {"name": "Zoë 🚀", "bio": "🚀" * 2000})

    assert response.status_code == 200
    after = await profile(signed_in_client)
    assert after["name"] == "Zoë 🚀"
    assert after["bio"] == "🚀" * 2000


async def test_a_bio_of_2000_characters_is_kept(signed_in_client: httpx.AsyncClient) -> None:
    response = await update(signed_in_client, {"bio": "b" * 2000})

    assert response.status_code == 200
    assert (await profile(signed_in_client))["bio"] == "b" * 2000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": None}, "name", id="name-null"),
        pytest.param({"name": ""}, "name", id="name-empty"),
        pytest.param({"name": "  "}, "name", id="name-blank"),
        pytest.param({"name": "n" * 101}, "name", id="name-101"),
        pytest.param({"name": 5}, "name", id="name-number"),
        pytest.param({"name": "Ada\x1b]0;owned\x07"}, "name", id="name-escape"),
        pytest.param({"name": "Ada\u2066Lovelace"}, "name", id="name-bidi-isolate"),
        pytest.param({"bio": "b" * 2001}, "bio", id="bio-2001"),
        pytest.param({"bio": ["text"]}, "bio", id="bio-list"),
        pytest.param({"contact": "call me"}, "contact", id="contact-letters"),
        pytest.param({"contact": "1" * 21}, "contact", id="contact-21"),
        pytest.param({"contact": 123456}, "contact", id="contact-number"),
        pytest.param({"password": "a new password 1"}, "password", id="password"),
        pytest.param({"email": "eve@example.com"}, "email", id="email"),
        pytest.param({"id": 2}, "id", id="id"),
        pytest.param({"refreshToken": "x"}, "refreshToken", id="refreshToken"),
        pytest.param({"createdAt": "2020-01-01T00:00:00Z"}, "createdAt", id="createdAt"),
        pytest.param({"bio": "fine", "password": "a new password 1"}, "password", id="mixed"),
    ],
)
async def test_an_invalid_update_is_400_and_changes_nothing(
    signed_in_client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    client = signed_in_client
    before = await profile(client)

    response = await update(client, body)

    assert response.status_code == 400
    assert error_fields(response) == {field}
    assert await profile(client) == before


async def test_every_field_of_the_wrong_shape_is_named(
    signed_in_client: httpx.AsyncClient,
) -> None:
    response = await update(signed_in_client, {"name": None, "email": "x@y.io", "id": 1})

    assert response.status_code == 400
    assert error_fields(response) == {"name", "email", "id"}


async def test_every_invalid_value_is_named(signed_in_client: httpx.AsyncClient) -> None:
    response = await update(signed_in_client, {"name": " ", "bio": "b" * 2001, "contact": "abc"})

    assert response.status_code == 400
    assert error_fields(response) == {"name", "bio", "contact"}


async def test_an_empty_update_is_400(signed_in_client: httpx.AsyncClient) -> None:
    before = await profile(signed_in_client)

    response = await update(signed_in_client, {})

    assert response.status_code == 400
    assert response.json()["message"]
    assert await profile(signed_in_client) == before


async def test_an_update_that_is_not_an_object_is_400(
    signed_in_client: httpx.AsyncClient,
) -> None:
    response = await update(signed_in_client, ["name", "Eve"])

    assert response.status_code == 400


async def test_the_email_stays_what_it_was(signed_in_client: httpx.AsyncClient) -> None:
    await update(signed_in_client, {"email": "eve@example.com"})

    assert (await profile(signed_in_client))["email"] == EMAIL


async def test_an_update_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await update(client, {"name": "Eve"})

    assert response.status_code == 401


async def test_an_update_through_an_ended_session_is_401_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    """The access token is still validly signed: only its session says no."""
    ended = await signed_in(api)
    assert (await api.post("/users/logout", headers=bearer(ended.access))).status_code == 200
    current = tokens_of(await login(api))

    response = await api.patch(
        "/users/update-profile", json={"bio": "Intruder"}, headers=bearer(ended.access)
    )

    assert response.status_code == 401
    assert response.json()["message"] == "Session has ended"
    assert (await profile_with(api, current.access)).json()["data"]["bio"] is None


async def test_an_update_with_an_invalid_token_is_401(api: httpx.AsyncClient) -> None:
    tokens = await signed_in(api)
    signed, _, signature = tokens.access.rpartition(".")
    altered = f"{signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"

    response = await api.patch("/users/update-profile", json={"bio": "x"}, headers=bearer(altered))

    assert response.status_code == 401
    assert (await profile_with(api, tokens.access)).json()["data"]["bio"] is None
