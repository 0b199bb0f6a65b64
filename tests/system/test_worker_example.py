"""examples/register_from_jsonl.py as its reader would run it: a process on a file of users."""

import asyncio
import json
import os
import pty
import sys
from pathlib import Path

import pytest

from tests.system.conftest import log_in
from tests.system.processes import run_authsvc, run_command

WORKER = (sys.executable, str(Path(__file__).parents[2] / "examples" / "register_from_jsonl.py"))

ADA = {"name": "Ada", "email": "ada@example.com", "password": "analytical engine"}
GRACE = {"name": "Grace", "email": "grace@example.com", "password": "first compiler"}
ALAN = {"name": "Alan", "email": "alan@example.com", "password": "imitation game"}


def jsonl(*users: dict[str, str]) -> str:
    return "".join(json.dumps(user) + "\n" for user in users)


@pytest.fixture
async def env(sqlite_environment: dict[str, str], tmp_path: Path) -> dict[str, str]:
    await run_authsvc("db", "upgrade", env=sqlite_environment, cwd=tmp_path)
    return sqlite_environment


async def test_a_clean_file_registers_everyone_and_leaves_no_rejects(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "users.jsonl").write_text(jsonl(ADA, GRACE))
    (tmp_path / "users.rejected.jsonl").write_text("from an earlier run\n")

    outcome = await run_command(*WORKER, "users.jsonl", env=env, cwd=tmp_path)

    assert (outcome.returncode, outcome.stderr) == (0, "registered 2 of 2 users\n")
    assert not (tmp_path / "users.rejected.jsonl").exists()
    assert (await log_in(env, GRACE["email"], GRACE["password"])).user.name == "Grace"


async def test_rejected_lines_are_reported_and_kept_verbatim(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "first.jsonl").write_text(jsonl(ADA))
    await run_command(*WORKER, "first.jsonl", env=env, cwd=tmp_path)
    duplicate = '{"name": "Ada again", "email": "ADA@example.com", "password": "another one"}\n'
    invalid = '{"name": "", "email": "nope", "password": "short"}\n'
    not_json = "name=Mallory, email=mallory@example.com\n"
    incomplete = '{"name": "Eve"}'  # last line, without a newline
    (tmp_path / "users.jsonl").write_text(
        jsonl(GRACE) + duplicate + "\n" + invalid + jsonl(ALAN) + not_json + incomplete
    )

    outcome = await run_command(*WORKER, "users.jsonl", "--concurrency", "3", env=env, cwd=tmp_path)

    assert outcome.returncode == 1
    *reports, summary = outcome.stderr.splitlines()
    assert sorted(reports) == [
        "line 2: Email already registered",
        "line 4: name: must not be empty; email: must be a valid email address; "
        "password: must be at least 8 characters",
        "line 6: not JSON",
        "line 7: email: must be a string; password: must be a string",
    ]
    assert summary == "registered 2 of 6 users; 4 rejected, written to users.rejected.jsonl"
    assert (tmp_path / "users.rejected.jsonl").read_text() == (
        duplicate + invalid + not_json + incomplete + "\n"
    )
    for user in (GRACE, ALAN):
        assert (await log_in(env, user["email"], user["password"])).user.name == user["name"]


def everything_written(terminal: int) -> str:
    """What the other side of a pseudo-terminal wrote before it closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the other side is closed and nothing is left
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


async def test_a_terminal_sees_a_progress_bar(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "users.jsonl").write_text(jsonl(ADA, GRACE))
    terminal, worker_side = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            *WORKER,
            "users.jsonl",
            env=env,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=worker_side,
        )
        os.close(worker_side)
        async with asyncio.timeout(60):
            assert await process.wait() == 0
        screen = everything_written(terminal)
    finally:
        os.close(terminal)

    assert f"\r[{'.' * 30}] 0/2 0%" in screen
    assert f"\r[{'#' * 30}] 2/2 100%" in screen
    assert screen.endswith("registered 2 of 2 users\r\n")
