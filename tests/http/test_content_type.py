"""A body is JSON only when it says so: anything else is a 415, before it is read or counted.
This is also what keeps an HTML form (`enctype="text/plain"`, a field named like JSON) off the
API, since a form cannot send `application/json` across sites."""

import json

import httpx
import pytest

from tests.http.conftest import EMAIL, NAME, NEW_PASSWORD, PASSWORD, register, signed_in

BODY_ENDPOINTS = [
    pytest.param(
        "POST",
        "/users/register",
        {"name": NAME, "email": "bo@example.com", "password": PASSWORD},
        id="register",
    ),
    pytest.param("POST", "/users/login", {"email": EMAIL, "password": PASSWORD}, id="login"),
    pytest.param("PATCH", "/users/update-profile", {"bio": "changed"}, id="update-profile"),
    pytest.param(
        "PATCH",
        "/users/change-password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        id="change-password",
    ),
]

NOT_JSON = [
    pytest.param("text/plain", id="text-plain"),
    pytest.param("application/x-www-form-urlencoded", id="form"),
    pytest.param("multipart/form-data; boundary=x", id="multipart"),
    pytest.param("application/merge-patch+json", id="other-json"),
    pytest.param(None, id="missing"),
]


@pytest.mark.parametrize("content_type", NOT_JSON)
@pytest.mark.parametrize(("method", "path", "body"), BODY_ENDPOINTS)
async def test_a_body_that_is_not_application_json_is_415_and_changes_nothing(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, str], content_type: str | None
) -> None:
    tokens = await signed_in(api)
    headers = {"Authorization": f"Bearer {tokens.access}"}
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = await api.request(method, path, content=json.dumps(body).encode(), headers=headers)

    assert response.status_code == 415
    assert response.json()["message"] == "Content-Type must be application/json"
    profile = await api.get("/users/profile", headers={"Authorization": f"Bearer {tokens.access}"})
    assert profile.json()["data"]["bio"] is None
    assert (
        await api.post("/users/login", json={"email": EMAIL, "password": PASSWORD})
    ).status_code == 200
    assert (await register(api, email="bo@example.com")).status_code == 201


async def test_a_charset_parameter_is_fine(api: httpx.AsyncClient) -> None:
    await register(api)

    response = await api.post(
        "/users/login",
        content=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200


async def test_the_text_plain_form_of_a_cross_site_login_is_refused(api: httpx.AsyncClient) -> None:
    """What `<form enctype="text/plain">` with a field named `{"email":"..","password":"` and the
    value `"}` sends; without an Origin header, as some clients strip it."""
    await register(api)
    form_body = f'{{"email":"{EMAIL}","password":"{PASSWORD}", "x":"=x"}}'

    response = await api.post(
        "/users/login", content=form_body.encode(), headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert "set-cookie" not in response.headers
