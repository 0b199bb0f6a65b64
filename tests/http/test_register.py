import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.http.conftest import (
    EMAIL,
    ENVELOPE_FIELDS,
    NAME,
    PASSWORD,
    USER_FIELDS,
    error_fields,
    register,
)

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


async def post_register(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/users/register", json=body)


def valid_body(**changes: Any) -> dict[str, Any]:
    return {"name": NAME, "email": EMAIL, "password": PASSWORD} | changes


async def test_register_answers_201_with_the_user_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client)

    assert response.status_code == 201
    body = response.json()
    assert body.keys() == ENVELOPE_FIELDS
    assert body["statusCode"] == 201
    assert body["success"] is True
    assert body["message"]
    user = body["data"]
    assert user.keys() == USER_FIELDS
    assert isinstance(user["id"], int)
    assert (user["name"], user["email"], user["bio"], user["contact"]) == (
        NAME,
        EMAIL,
        None,
        None,
    )
    assert ISO_UTC.fullmatch(user["createdAt"])


async def test_register_trims_and_lower_cases_the_email_and_trims_the_name(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client, name="  Ada  ", email="  Ada.Lovelace@Example.COM ")

    assert response.status_code == 201
    assert response.json()["data"]["email"] == "ada.lovelace@example.com"
    assert response.json()["data"]["name"] == "Ada"


async def test_an_email_registers_once_whatever_its_case(client: httpx.AsyncClient) -> None:
    await register(client, email="ada@example.com")

    response = await register(client, email="ADA@Example.com")

    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["errors"] == []
    assert body["message"] == "Email already registered"


async def test_of_two_simultaneous_registrations_of_one_email_one_wins(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        register(client, email="ada@example.com"), register(client, email="ADA@example.com")
    )

    assert sorted(response.status_code for response in responses) == [201, 409]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param({}, {"name", "email", "password"}, id="empty-object"),
        pytest.param({"email": EMAIL, "password": PASSWORD}, {"name"}, id="no-name"),
        pytest.param({"name": NAME, "password": PASSWORD}, {"email"}, id="no-email"),
        pytest.param({"name": NAME, "email": EMAIL}, {"password"}, id="no-password"),
        pytest.param(valid_body(name=42), {"name"}, id="name-number"),
        pytest.param(valid_body(email=["a@b.co"]), {"email"}, id="email-list"),
        pytest.param(valid_body(password=None), {"password"}, id="password-null"),
        pytest.param(valid_body(name=1, email=2), {"name", "email"}, id="two-wrong-types"),
        pytest.param(valid_body(id=7), {"id"}, id="unknown-id"),
        pytest.param(valid_body(role="admin"), {"role"}, id="unknown-role"),
        pytest.param(valid_body(id=7, role="admin"), {"id", "role"}, id="two-unknown"),
        pytest.param({"name": NAME, "role": "admin"}, {"email", "password", "role"}, id="mixed"),
    ],
)
async def test_a_malformed_body_is_400_naming_every_field(
    client: httpx.AsyncClient, body: dict[str, Any], fields: set[str]
) -> None:
    response = await post_register(client, body)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert error_fields(response) == fields
    assert all(error["message"] for error in response.json()["errors"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": ""}, "name", id="name-empty"),
        pytest.param({"name": "   "}, "name", id="name-blank"),
        pytest.param({"name": "n" * 101}, "name", id="name-101"),
        pytest.param({"email": "not-an-email"}, "email", id="email-invalid"),
        pytest.param({"email": "a@b"}, "email", id="email-no-dot"),
        pytest.param({"email": f"{'a' * 89}@example.com"}, "email", id="email-101"),
        pytest.param({"email": "ada\x00@example.com"}, "email", id="email-NUL"),
        pytest.param({"email": "ada\r\nbcc:x@example.com"}, "email", id="email-CRLF"),
        pytest.param({"email": "ada\t@example.com"}, "email", id="email-tab"),
        pytest.param({"email": "ada\u200b@example.com"}, "email", id="email-zero-width-space"),
        pytest.param({"email": "ada\u202e@example.com"}, "email", id="email-bidi-override"),
        pytest.param({"email": "ada\uff20example.com"}, "email", id="email-fullwidth-at"),
        pytest.param({"name": "Ada\x1b[2J"}, "name", id="name-escape"),
        pytest.param({"name": "Ada\rMallory"}, "name", id="name-CR"),
        pytest.param({"name": "\u202egnp.exe"}, "name", id="name-bidi-override"),
        pytest.param({"password": "short"}, "password", id="password-short"),
    ],
)
async def test_an_invalid_value_is_400_naming_its_field(
    client: httpx.AsyncClient, changes: dict[str, str], field: str
) -> None:
    response = await post_register(client, valid_body(**changes))

    assert response.status_code == 400
    assert error_fields(response) == {field}


async def test_names_keep_the_joiners_of_emoji_and_persian(client: httpx.AsyncClient) -> None:
    family, persian = (
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    )

    responses = [
        await register(client, name=family, email="family@example.com"),
        await register(client, name=persian, email="persian@example.com"),
    ]

    assert [response.status_code for response in responses] == [201, 201]
    assert [response.json()["data"]["name"] for response in responses] == [family, persian]


async def test_the_longest_name_and_email_are_accepted(client: httpx.AsyncClient) -> None:
    email = f"{'a' * 88}@example.com"

    response = await register(client, name="n" * 100, email=email)

    assert response.status_code == 201
    assert response.json()["data"]["email"] == email


async def test_every_invalid_value_is_reported_at_once(client: httpx.AsyncClient) -> None:
    response = await post_register(client, {"name": "", "email": "nope", "password": "x"})

    assert response.status_code == 400
    assert error_fields(response) == {"name", "email", "password"}


async def test_a_password_over_72_bytes_is_400_saying_so(client: httpx.AsyncClient) -> None:
    password = "é" * 37  # 37 characters, 74 bytes of UTF-8

    response = await register(client, password=password)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "password"
    assert "72 bytes" in error["message"]


async def test_a_body_that_is_not_json_is_400_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users/register", content=b'{"name": "Ada",', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["errors"] == []


async def test_an_empty_body_is_400_naming_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users/register", content=b"", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert error_fields(response) == {"body"}


async def test_a_json_array_body_is_400(client: httpx.AsyncClient) -> None:
    response = await post_register(client, [valid_body()])

    assert response.status_code == 400
    assert response.json()["success"] is False


@pytest.mark.parametrize("body", ["null", '"text"', "42"], ids=["null", "string", "number"])
async def test_a_json_body_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, body: str
) -> None:
    response = await client.post(
        "/users/register", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400


async def test_a_body_over_16_kib_is_413_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await post_register(client, valid_body(name="n" * (16 * 1024)))

    assert response.status_code == 413
    assert response.json()["success"] is False
    assert response.json()["data"] is None
