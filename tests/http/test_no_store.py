"""Reads of a user's own data are never kept by a cache, as token responses are not."""

import httpx

from tests.http.conftest import signed_in


async def test_profile_and_sessions_are_never_cached(client: httpx.AsyncClient) -> None:
    await signed_in(client)

    responses = [await client.get("/users/profile"), await client.get("/users/sessions")]

    assert [response.status_code for response in responses] == [200, 200]
    assert [response.headers.get("cache-control") for response in responses] == ["no-store"] * 2
