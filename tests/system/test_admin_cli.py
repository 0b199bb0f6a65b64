"""Administration from the command line, as an operator or a cron job runs it: `authsvc users`
and `authsvc sessions purge`, real processes on an SQLite database."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.errors import InvalidCredentials
from domain.sessions import Session
from domain.users import Email, NewUser, PasswordHash
from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.sqlite import SqliteUnitOfWork
from tests.system.conftest import log_in
from tests.system.processes import AUTHSVC, run_authsvc, run_command

PASSWORD = "analytical engine"
USER_LINE = re.compile(r"(\d+)\t(\S+)\t([^\t]+)\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
async def env(sqlite_environment: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The environment of a migrated SQLite database."""
    await run_authsvc("db", "upgrade", env=sqlite_environment, cwd=tmp_path)
    return sqlite_environment


async def users(
    *arguments: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> tuple[int, list[tuple[str, ...]], str]:
    """`authsvc users ...`: the exit status, stdout's lines as (id, email, name), and stderr."""
    outcome = await run_command(*AUTHSVC, "users", *arguments, env=env, cwd=cwd, stdin=stdin)
    rows = []
    for line in outcome.stdout.splitlines():
        match = USER_LINE.fullmatch(line)
        assert match, line
        rows.append(match.groups())
    return outcome.returncode, rows, outcome.stderr


async def test_users_are_created_listed_and_deleted(env: dict[str, str], tmp_path: Path) -> None:
    created = await users(
        "create", "--name", "Ada Lovelace", "--email", "Ada@Example.com",
        env=env, cwd=tmp_path, stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    await users(
        "create", "--name", "Grace", "--email", "grace@example.com",
        env=env, cwd=tmp_path, stdin=f"{PASSWORD}\n",
    )  # fmt: skip

    assert created == (0, [("1", "ada@example.com", "Ada Lovelace")], "")
    assert await users("list", env=env, cwd=tmp_path) == (
        0,
        [("1", "ada@example.com", "Ada Lovelace"), ("2", "grace@example.com", "Grace")],
        "",
    )
    assert await users("list", "--limit", "1", env=env, cwd=tmp_path) == (
        0,
        [("1", "ada@example.com", "Ada Lovelace")],
        "authsvc: there may be more: --after 1\n",
    )
    assert await users("list", "--after", "1", env=env, cwd=tmp_path) == (
        0,
        [("2", "grace@example.com", "Grace")],
        "",
    )

    deleted = await run_command(*AUTHSVC, "users", "delete", "1", env=env, cwd=tmp_path)

    assert (deleted.returncode, deleted.stdout) == (
        0,
        "authsvc: deleted user 1 and all their sessions\n",
    )
    assert await users("list", env=env, cwd=tmp_path) == (
        0,
        [("2", "grace@example.com", "Grace")],
        "",
    )
    assert await users("delete", "1", env=env, cwd=tmp_path) == (
        1,
        [],
        "authsvc: User not found\n",
    )


async def test_users_list_prints_stored_control_characters_escaped(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A row written straight into the database, or before today's rules, cannot drive the
    terminal of the operator who lists it, nor forge a line or a column."""
    engine = create_engine(env["DATABASE_URL"])
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (name, email, password, created_at) "
                    "VALUES (:name, :email, 'x', '2026-01-01 10:00:00')"
                ),
                {
                    "name": "Eve\x1b]0;owned\x07\r\n2\tforged\\x1b\u202e",
                    "email": "Eve@Example.com\t",
                },
            )
    finally:
        await engine.dispose()

    outcome = await run_command(*AUTHSVC, "users", "list", env=env, cwd=tmp_path)

    assert (outcome.returncode, outcome.stderr) == (0, "")
    assert outcome.stdout == (
        "1\tEve@Example.com\\t\tEve\\x1b]0;owned\\x07\\r\\n2\\tforged\\\\x1b\\u202e"
        "\t2026-01-01T10:00:00Z\n"
    )


async def test_the_password_is_the_line_read_from_stdin_exactly(
    env: dict[str, str], tmp_path: Path
) -> None:
    password = "  spaces count too  "

    status, _, _ = await users(
        "create", "--name", "Ada", "--email", "ada@example.com",
        env=env, cwd=tmp_path, stdin=f"{password}\nthe next line is not read\n",
    )  # fmt: skip

    assert status == 0
    assert (await log_in(env, "ada@example.com", password)).user.name == "Ada"
    with pytest.raises(InvalidCredentials):
        await log_in(env, "ada@example.com", password.strip())


async def test_every_invalid_field_is_reported_and_nothing_is_created(
    env: dict[str, str], tmp_path: Path
) -> None:
    refused = await users(
        "create", "--name", " ", "--email", "ada@", env=env, cwd=tmp_path, stdin="short\n"
    )

    assert refused == (
        1,
        [],
        "authsvc: name: must not be empty\n"
        "authsvc: email: must be a valid email address\n"
        "authsvc: password: must be at least 8 characters\n",
    )
    assert await users("list", env=env, cwd=tmp_path) == (0, [], "")


async def test_an_email_registered_in_another_case_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    for email in ("ada@example.com", "ADA@example.com"):
        outcome = await users(
            "create", "--name", "Ada", "--email", email,
            env=env, cwd=tmp_path, stdin=f"{PASSWORD}\n",
        )  # fmt: skip

    assert outcome == (1, [], "authsvc: Email already registered\n")
    assert len((await users("list", env=env, cwd=tmp_path))[1]) == 1


async def plant_sessions(url: str, now: datetime) -> None:
    """A user with three sessions: `active`, `expired` a second ago, and `revoked` (but
    unexpired)."""
    engine = create_engine(url)
    try:
        async with SqliteUnitOfWork(engine) as uow:
            user = await uow.users.add(
                NewUser(
                    name="Ada",
                    email=Email("ada@example.com"),
                    password_hash=PasswordHash("$2b$04$" + "a" * 53),
                    created_at=now - timedelta(days=40),
                )
            )
            for session_id, expires_at, revoked_at in (
                ("active", now + timedelta(days=1), None),
                ("expired", now - timedelta(seconds=1), None),
                ("revoked", now + timedelta(days=1), now - timedelta(hours=1)),
            ):
                await uow.sessions.add(
                    Session(
                        id=session_id,
                        user_id=user.id,
                        refresh_token_hash="0" * 64,
                        created_at=now - timedelta(days=30),
                        last_used_at=now - timedelta(days=1),
                        expires_at=expires_at,
                        revoked_at=revoked_at,
                    )
                )
    finally:
        await engine.dispose()


async def remaining_sessions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with SqliteUnitOfWork(engine) as uow:
            return [
                session_id
                for session_id in ("active", "expired", "revoked")
                if await uow.sessions.get(session_id) is not None
            ]
    finally:
        await engine.dispose()


async def test_sessions_purge_deletes_expired_and_revoked_sessions(
    env: dict[str, str], tmp_path: Path
) -> None:
    await plant_sessions(env["DATABASE_URL"], datetime.now(UTC))

    first = await run_command(*AUTHSVC, "sessions", "purge", env=env, cwd=tmp_path)
    second = await run_command(*AUTHSVC, "sessions", "purge", env=env, cwd=tmp_path)

    assert (first.returncode, first.stdout) == (
        0,
        "authsvc: deleted 2 expired or revoked sessions\n",
    )
    assert (second.returncode, second.stdout) == (
        0,
        "authsvc: deleted 0 expired or revoked sessions\n",
    )
    assert await remaining_sessions(env["DATABASE_URL"]) == ["active"]


async def enable_second_factor(url: str) -> None:
    """Ada, with a second factor on."""
    engine = create_engine(url)
    try:
        async with SqliteUnitOfWork(engine) as uow:
            user = await uow.users.add(
                NewUser(
                    name="Ada",
                    email=Email("ada@example.com"),
                    password_hash=PasswordHash("$2b$04$" + "a" * 53),
                    created_at=datetime.now(UTC),
                )
            )
            await uow.second_factor.set_pending(user.id, "v1.sealed")
            async with uow.transaction():
                await uow.second_factor.enable(
                    user.id,
                    pending_secret="v1.sealed",
                    secret="v1.sealed",
                    step=1,
                    now=user.created_at,
                )
                await uow.second_factor.replace_recovery_codes(user.id, ["a" * 64])
    finally:
        await engine.dispose()


async def test_users_mfa_reset_turns_the_factor_off_as_a_logged_security_event(
    env: dict[str, str], tmp_path: Path
) -> None:
    await enable_second_factor(env["DATABASE_URL"])
    verbose = {**env, "LOG_LEVEL": "INFO"}

    reset = await run_command(*AUTHSVC, "users", "mfa-reset", "1", env=verbose, cwd=tmp_path)
    again = await run_command(*AUTHSVC, "users", "mfa-reset", "1", env=env, cwd=tmp_path)
    unknown = await run_command(*AUTHSVC, "users", "mfa-reset", "9", env=env, cwd=tmp_path)

    assert (reset.returncode, reset.stdout) == (
        0,
        "authsvc: turned off the second factor of user 1\n",
    )
    assert "security event second_factor_reset user_id=1" in reset.stderr
    assert (again.returncode, again.stdout) == (0, "authsvc: user 1 had no second factor on\n")
    assert (unknown.returncode, unknown.stderr) == (1, "authsvc: User not found\n")
    engine = create_engine(env["DATABASE_URL"])
    try:
        async with SqliteUnitOfWork(engine) as uow:
            user = await uow.users.get(1)
            factor = await uow.second_factor.get(1)
            codes = await uow.second_factor.count_recovery_codes(1)
            notices = await uow.outbox.claim(
                now=datetime.now(UTC), limit=10, lease=timedelta(minutes=1)
            )
    finally:
        await engine.dispose()
    assert user is not None
    assert (user.mfa_enabled, factor, codes) == (False, None, 0)
    assert [notice.message.subject for notice in notices] == ["Two-step verification turned off"]
