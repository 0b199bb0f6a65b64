import httpx

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

    assert len(bodies) == 6
    assert all(schema.get("examples") for schema in bodies.values())
    register_example = bodies[("post", "/users/register")]["examples"][0]
    assert (await client.post("/users/register", json=register_example)).status_code == 201
    login_example = bodies[("post", "/users/login")]["examples"][0]
    assert (await client.post("/users/login", json=login_example)).status_code == 200
