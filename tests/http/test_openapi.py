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
