"""The statements each hot request sends to the database, counted where the SQL adapters send
them (tests/statements.py), on SQLite and MySQL. A feature that adds a query to one of these
paths shows up here first: a second factor, when off, must add none to login."""

import httpx
import pytest

from tests.http.conftest import bearer, login, profile_with, refresh_with, signed_in, tokens_of
from tests.statements import record_statements


async def test_a_login_is_a_lookup_by_email_and_the_new_sessions_insert(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(api)
    statements = record_statements(monkeypatch)

    response = await login(api)

    assert response.status_code == 200
    assert statements == ["SELECT_USER_BY_EMAIL", "INSERT_SESSION_WHILE_PASSWORD"]


async def test_a_profile_read_is_one_statement(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await signed_in(api)
    statements = record_statements(monkeypatch)

    response = await profile_with(api, tokens.access)

    assert response.status_code == 200
    assert statements == ["FIND_ACTIVE_USER"]


async def test_a_profile_update_is_the_guarded_update_then_the_user_read_back(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await signed_in(api)
    statements = record_statements(monkeypatch)

    response = await api.patch(
        "/users/update-profile", json={"bio": "Counting"}, headers=bearer(tokens.access)
    )

    assert response.status_code == 200
    assert statements == ["UPDATE users SET bio=:bio", "SELECT_USER"]


async def test_a_refresh_is_one_statement(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await signed_in(api)
    statements = record_statements(monkeypatch)

    first = await refresh_with(api, tokens.refresh)
    second = await refresh_with(api, tokens_of(first).refresh)

    assert (first.status_code, second.status_code) == (200, 200)
    assert statements == ["ROTATE_SESSION", "ROTATE_SESSION"]
