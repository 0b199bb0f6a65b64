"""`authsvc db upgrade` and `authsvc serve` as an operator runs them on the embedded default."""

import json
import sys
from pathlib import Path

from tests.system.processes import (
    AUTHSVC,
    environment,
    free_port,
    login,
    register,
    run_authsvc,
    run_command,
    serving,
)


def without_secrets(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.endswith("_TOKEN_SECRET")}


async def test_db_upgrade_creates_the_embedded_database_and_its_secrets(tmp_path: Path) -> None:
    env = without_secrets(environment())
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
    assert (tmp_path / "data" / "authsvc.db").exists()
    assert (tmp_path / "data" / "authsvc.secrets").stat().st_mode & 0o777 == 0o600
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)


async def test_bad_configuration_stops_with_one_line_naming_the_variable(
    tmp_path: Path,
) -> None:
    result = await run_command(
        *AUTHSVC, "db", "upgrade", env=environment(ACCESS_TOKEN_EXPIRY="soon"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "ACCESS_TOKEN_EXPIRY" in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_answers_the_api_on_the_embedded_database(tmp_path: Path) -> None:
    env = without_secrets(environment())
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
    async with serving(env, tmp_path) as server, server.client() as http:
        assert (await register(http, "ada@example.com")).status_code == 201
        response = await login(http, "ada@example.com")
        assert response.status_code == 200
        assert response.json()["data"]["user"]["email"] == "ada@example.com"
        ready = await http.get("/health/ready")
        assert ready.json() == {
            "statusCode": 200,
            "data": None,
            "message": "Ready",
            "success": True,
        }


async def test_serve_writes_one_json_access_line_per_request_by_the_time_it_stops(
    tmp_path: Path,
) -> None:
    env = without_secrets(environment(LOG_LEVEL="INFO", LOG_FORMAT="json"))
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
    async with serving(env, tmp_path) as server, server.client() as http:
        for number in range(50):
            response = await http.get(
                f"/nowhere?token=secret-{number}", headers={"X-Request-ID": f"req-{number}"}
            )
            assert response.status_code == 404
        await server.stop()

    lines = server.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    access = [entry for entry in entries if entry["logger"] == "authsvc.access"]
    nowhere = [entry for entry in access if entry["path"] == "/nowhere"]
    assert [entry["request_id"] for entry in nowhere] == [f"req-{number}" for number in range(50)]
    assert {(entry["method"], entry["status"], entry["level"]) for entry in nowhere} == {
        ("GET", 404, "info")
    }
    assert "secret-" not in "\n".join(lines)


async def test_a_server_worker_keeps_start_up_objects_out_of_garbage_collection(
    tmp_path: Path,
) -> None:
    """`build_app` is what each worker of `authsvc serve` calls; the garbage collector then
    never walks the modules, the app and the container again."""
    script = (
        "import gc; from interfaces.http.app import build_app; "
        "build_app(); print(gc.get_freeze_count())"
    )
    result = await run_command(sys.executable, "-c", script, env=environment(), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 10_000


async def test_mail_test_writes_a_message_to_the_mail_directory(tmp_path: Path) -> None:
    env = environment(MAIL_DIR=str(tmp_path / "outgoing"))

    result = await run_command(*AUTHSVC, "mail", "test", "Ada@Example.com", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    (message,) = (tmp_path / "outgoing").iterdir()
    assert b"To: ada@example.com" in message.read_bytes()
    assert str(tmp_path / "outgoing") in result.stdout


async def test_mail_test_through_smtp_that_is_down_exits_1_with_one_line(tmp_path: Path) -> None:
    env = environment(
        SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_TLS="none", MAIL_FROM="a@b.example"
    )

    result = await run_command(*AUTHSVC, "mail", "test", "ada@example.com", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "Mail could not be sent" in result.stderr
    assert "Traceback" not in result.stderr
