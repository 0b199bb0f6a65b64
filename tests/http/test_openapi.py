import re
from typing import Any

import httpx
import pytest

from tests.http.conftest import ClientFactory

IMPLEMENTED = {
    ("post", "/users/register"),
    ("post", "/users/login"),
    ("post", "/users/refresh-token"),
    ("get", "/users/profile"),
    ("delete", "/users/profile"),
    ("patch", "/users/update-profile"),
    ("post", "/users/logout"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("patch", "/users/change-password"),
    ("get", "/users/sessions"),
    ("delete", "/users/sessions/{session_id}"),
}


async def test_the_openapi_document_lists_every_operation(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations >= IMPLEMENTED


async def test_the_openapi_document_describes_the_request_bodies(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/schema/openapi.json")).json()

    register = document["paths"]["/users/register"]["post"]

    assert "requestBody" in register
    assert "application/json" in register["requestBody"]["content"]


async def test_every_operation_with_a_body_documents_415_and_403(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/schema/openapi.json")).json()

    with_bodies = [
        operation
        for item in document["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]

    assert len(with_bodies) >= 5
    for operation in with_bodies:
        assert {"403", "415"} <= operation["responses"].keys(), operation["operationId"]


async def test_every_request_body_has_an_example_that_the_api_accepts(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    bodies = {
        (method, path): operation["requestBody"]["content"]["application/json"]["schema"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }

    assert len(bodies) == 16
    assert all(schema.get("examples") for schema in bodies.values())
    register_example = bodies[("post", "/users/register")]["examples"][0]
    assert (await client.post("/users/register", json=register_example)).status_code == 201
    login_example = bodies[("post", "/users/login")]["examples"][0]
    assert (await client.post("/users/login", json=login_example)).status_code == 200


async def request_body_schemas(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    document = (await client.get("/schema/openapi.json")).json()
    schemas: dict[str, dict[str, Any]] = document["components"]["schemas"]
    return {name: schema for name, schema in schemas.items() if name.endswith("Request")}


def string_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A string property's schema, `null` or not."""
    options = schema.get("oneOf", [schema])
    return next(option for option in options if option.get("type") == "string")


async def test_every_request_body_refuses_unknown_fields(client: httpx.AsyncClient) -> None:
    schemas = await request_body_schemas(client)

    assert len(schemas) == 13
    assert all(schema["additionalProperties"] is False for schema in schemas.values())
    assert schemas["UpdateProfileRequest"]["minProperties"] == 1


async def test_the_document_states_the_field_constraints(client: httpx.AsyncClient) -> None:
    schemas = await request_body_schemas(client)
    register = schemas["RegisterRequest"]["properties"]
    profile = schemas["UpdateProfileRequest"]["properties"]

    assert register["name"]["maxLength"] == 100
    assert register["email"]["maxLength"] == 100
    assert string_schema(profile["name"])["maxLength"] == 100
    assert string_schema(profile["bio"])["maxLength"] == 2000
    assert string_schema(profile["contact"])["maxLength"] == 20
    assert re.fullmatch(string_schema(profile["contact"])["pattern"], "+44 (20) 7946-0000")
    assert not re.fullmatch(string_schema(profile["contact"])["pattern"], "call me")


@pytest.mark.parametrize(
    ("env", "max_length"),
    [
        pytest.param({"PASSWORD_MIN_LENGTH": "12"}, 72, id="bcrypt"),
        pytest.param(
            {"PASSWORD_MIN_LENGTH": "10", "PASSWORD_HASHER": "argon2id"}, 256, id="argon2"
        ),
    ],
)
async def test_new_passwords_are_documented_with_the_configured_policy(
    make_client: ClientFactory, env: dict[str, str], max_length: int
) -> None:
    client = await make_client(**env)
    schemas = await request_body_schemas(client)

    for body, field in [
        ("RegisterRequest", "password"),
        ("ChangePasswordRequest", "newPassword"),
        ("ResetPasswordRequest", "newPassword"),
    ]:
        password = schemas[body]["properties"][field]
        assert password["minLength"] == int(env["PASSWORD_MIN_LENGTH"])
        assert password["maxLength"] == max_length
    assert "minLength" not in schemas["LoginRequest"]["properties"]["password"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Ada Lovelace", True),
        ("محمد\u200c", True),
        ("   ", False),
        ("Ada\nLovelace", False),
        ("Ada\u202eecalevol", False),
        ("Ada\u2028Lovelace", False),
        ("Ada\u2067Lovelace", False),
    ],
)
async def test_the_name_pattern_is_no_looser_than_the_service(
    client: httpx.AsyncClient, name: str, valid: bool
) -> None:
    schemas = await request_body_schemas(client)
    pattern = schemas["RegisterRequest"]["properties"]["name"]["pattern"]

    assert bool(re.search(pattern, name)) is valid


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ada@example.com", True),
        ("Ada.Lovelace+1@Example.co.uk", True),
        ("a@b", False),
        ("ada@exa\nmple.com", False),
        ("ada\u200b@example.com", False),
        ("ada\uff20example.com", False),
        ("ada lovelace@example.com", False),
    ],
)
async def test_the_email_pattern_is_no_looser_than_the_service(
    client: httpx.AsyncClient, email: str, valid: bool
) -> None:
    schemas = await request_body_schemas(client)
    pattern = schemas["LoginRequest"]["properties"]["email"]["pattern"]

    assert bool(re.search(pattern, email)) is valid


def content_security_policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = (item.split() for item in response.headers["content-security-policy"].split(";"))
    return {name: sources for name, *sources in directives}


async def test_the_reference_page_loads_one_pinned_script_and_says_so(
    make_client: ClientFactory,
) -> None:
    client = await make_client(API_DOCS="true")

    response = await client.get("/schema")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    [script] = re.findall(r"<script[^>]*>", response.text)
    [script_url] = re.findall(r'src="([^"]+)"', script)
    assert re.search(r'integrity="sha384-[A-Za-z0-9+/]{64}"', script)
    assert re.fullmatch(
        r"https://cdn\.jsdelivr\.net/npm/redoc@\d+\.\d+\.\d+/bundles/\S+\.js", script_url
    )
    assert 'spec-url="/schema/openapi.json"' in response.text
    assert re.findall(r"https?://[^\s\"']+", response.text) == [script_url]
    policy = content_security_policy(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == [script_url]
    assert policy["connect-src"] == ["'self'"]
    assert all(
        "http" not in source
        for name, sources in policy.items()
        if name != "script-src"
        for source in sources
    )


async def test_without_api_docs_only_the_document_is_served(make_client: ClientFactory) -> None:
    client = await make_client(API_DOCS="false")

    document = await client.get("/schema/openapi.json")
    page = await client.get("/schema")

    assert document.status_code == 200
    assert document.json()["info"]["title"] == "authsvc"
    assert "<script" not in page.text
    assert content_security_policy(document)["default-src"] == ["'none'"]
    for other_page in ("/schema/redoc", "/schema/swagger", "/schema/elements"):
        assert (await client.get(other_page)).status_code == 404
