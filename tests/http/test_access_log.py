import logging

import httpx
import pytest

from infrastructure.logs import ConsoleFormatter, JsonFormatter, RequestIdFilter
from tests.http.conftest import PASSWORD, register


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "authsvc.access"]


async def test_a_callers_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "edge-7f3a:1"})
    assert response.headers["x-request-id"] == "edge-7f3a:1"


@pytest.mark.parametrize("sent", [None, "x" * 129, "bad id\twith tab", "path/like"])
async def test_a_missing_or_unfit_request_id_is_replaced(
    client: httpx.AsyncClient, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}
    response = await client.get("/health/live", headers=headers)
    generated = response.headers["x-request-id"]
    assert generated != sent
    assert len(generated) == 32
    assert int(generated, 16) >= 0


async def test_one_access_line_per_request_without_the_query_string(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.get("/users/profile?token=secret-in-query")
    [record] = access_records(caplog)
    assert (record.method, record.path, record.status) == ("GET", "/users/profile", 401)
    assert record.duration_ms >= 0
    assert "secret-in-query" not in record.getMessage()
    assert response.status_code == 401


async def test_log_lines_of_a_request_carry_its_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    await register(client)
    response = await client.post(
        "/users/login",
        json={"email": "ada@example.com", "password": "not " + PASSWORD},
        headers={"X-Request-ID": "req-42"},
    )
    assert response.status_code == 401
    [failure] = [record for record in caplog.records if record.name == "authsvc.security"]
    assert failure.request_id == "req-42"
    assert access_records(caplog)[-1].request_id == "req-42"
    line = JsonFormatter().format(failure)
    assert '"request_id": "req-42"' in line
    assert '"event": "login_failed"' in line
    assert PASSWORD not in line


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/nowhere", 404, id="unmatched-path"),
        pytest.param("PUT", "/health/live", 405, id="unmatched-method"),
    ],
)
async def test_an_unmatched_route_gets_an_access_line_and_a_request_id(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    status: int,
) -> None:
    caplog.set_level(logging.INFO)

    response = await client.request(method, path, headers={"X-Request-ID": "req-404"})

    assert response.status_code == status
    assert response.headers["x-request-id"] == "req-404"
    [record] = access_records(caplog)
    assert (record.method, record.path, record.status) == (method, path, status)


async def test_a_line_break_in_the_path_cannot_forge_a_console_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    forged = "/users/profile%0d%0a2026-01-01 00:00:00,000 INFO    authsvc.access [x] GET /admin"

    await client.get(forged)

    [record] = access_records(caplog)
    record.request_id = None
    line = ConsoleFormatter().format(record)
    assert "\n" not in line
    assert "\r" not in line
    assert "/users/profile\\r\\n2026-01-01" in line
