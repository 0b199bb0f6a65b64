"""The `authsvc` command as an operator runs it: a real process, real environment."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

AUTHSVC = [sys.executable, "-m", "interfaces.cli.main"]


def run_authsvc(
    *arguments: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUTHSVC, *arguments], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    keep = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    return {**keep, "PYTHONPATH": os.pathsep.join(sys.path), "BCRYPT_ROUNDS": "4"}


def test_db_upgrade_creates_the_embedded_database_and_its_secrets(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    result = run_authsvc("db", "upgrade", env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "authsvc.db").exists()
    assert (tmp_path / "data" / "authsvc.secrets").stat().st_mode & 0o777 == 0o600
    again = run_authsvc("db", "upgrade", env=environment, cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_bad_configuration_stops_with_one_line_naming_the_variable(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    environment |= {"ACCESS_TOKEN_EXPIRY": "soon"}
    result = run_authsvc("db", "upgrade", env=environment, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "ACCESS_TOKEN_EXPIRY" in result.stderr
    assert "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, body: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def server(tmp_path: Path, environment: dict[str, str]) -> Iterator[str]:
    port = free_port()
    environment |= {
        "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(48),
        "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(48),
    }
    assert run_authsvc("db", "upgrade", env=environment, cwd=tmp_path).returncode == 0
    process = subprocess.Popen(
        [*AUTHSVC, "serve", "--port", str(port)],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call(f"{base_url}/health/live")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_answers_the_api(server: str) -> None:
    credentials = {"email": "ada@example.com", "password": "correct horse"}
    assert call(f"{server}/users/register", {"name": "Ada", **credentials})[0] == 201
    status, body = call(f"{server}/users/login", credentials)
    assert status == 200
    assert body["data"]["user"]["email"] == "ada@example.com"  # type: ignore[index]
    assert call(f"{server}/health/ready") == (
        200,
        {"statusCode": 200, "data": None, "message": "Ready", "success": True},
    )
