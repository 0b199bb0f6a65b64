"""Taking over the original Node service's database as its operator would: `authsvc db adopt`,
`authsvc db upgrade`, `authsvc serve`, and its users log in with the passwords they had.
A database that is not exactly the original service's is refused and left as it was."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from sqlalchemy import Connection, inspect, select, table, text

from infrastructure.persistence.engine import create_engine
from tests.databases import (
    DATABASES,
    NODE_USERS_TABLE,
    fresh_database,
    fresh_mysql_database,
)
from tests.system.processes import AUTHSVC, environment, login, run_authsvc, run_command, serving

NODE_USERS_TABLE_ON_SQLITE = NODE_USERS_TABLE.replace(
    "INT AUTO_INCREMENT PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"
)
"""The same table in SQLite's dialect, which spells AUTO_INCREMENT its own way."""


@dataclass(frozen=True)
class NodeUser:
    name: str
    email: str
    password: str
    bcrypt_prefix: bytes
    """`2a` as Node's bcryptjs writes, or `2b` as the native bcrypt module does."""

    @property
    def refresh_token(self) -> str:
        """What the original service kept in plaintext after this user's last login."""
        return f"eyJhbGciOiJIUzI1NiJ9.node-refresh-token-of-{self.name.lower()}"


ADA = NodeUser("Ada", "ada@example.com", "analytical engine", b"2a")
GRACE = NodeUser("Grace", "grace@example.com", "first compiler", b"2b")
ALAN = NodeUser("Alan", "alan@example.com", "imitation game", b"2a")


async def execute(
    url: str, *statements: str, parameters: list[dict[str, Any]] | None = None
) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement), parameters)
    finally:
        await engine.dispose()


async def insert_node_users(url: str, *users: NodeUser) -> None:
    """Rows as the original service wrote them: bcrypt at cost 10, the token in plaintext."""
    await execute(
        url,
        "INSERT INTO users (name, email, password, bio, refreshToken) "
        "VALUES (:name, :email, :password, 'Developer', :token)",
        parameters=[
            {
                "name": user.name,
                "email": user.email,
                "password": bcrypt.hashpw(
                    user.password.encode(), bcrypt.gensalt(rounds=10, prefix=user.bcrypt_prefix)
                ).decode(),
                "token": user.refresh_token,
            }
            for user in users
        ],
    )


def _read_everything(connection: Connection) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    inspector = inspect(connection)
    everything = {}
    for name in sorted(inspector.get_table_names()):
        columns = [f"{column['name']} {column['type']!r}" for column in inspector.get_columns(name)]
        rows = connection.execute(select(text("*")).select_from(table(name))).all()
        everything[name] = (columns, sorted(tuple(row) for row in rows))
    return everything


async def snapshot(url: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table of the database: its columns with their types, and all its rows."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_everything)
    finally:
        await engine.dispose()


@pytest.fixture(params=DATABASES)
async def node_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database as the original service left it: its users table and three of its users."""
    async with fresh_database(request.param, tmp_path) as url:
        await execute(
            url, NODE_USERS_TABLE if request.param == "mysql" else NODE_USERS_TABLE_ON_SQLITE
        )
        await insert_node_users(url, ADA, GRACE, ALAN)
        yield url


async def test_users_of_an_adopted_database_log_in_with_their_old_passwords(
    node_database: str, tmp_path: Path
) -> None:
    env = environment(DATABASE_URL=node_database, BCRYPT_ROUNDS="12")

    await run_authsvc("db", "adopt", env=env, cwd=tmp_path)
    await run_authsvc("db", "upgrade", env=env, cwd=tmp_path)
    async with serving(env, tmp_path) as server, server.client() as http:
        bcrypt_logins = [await login(http, user.email, user.password) for user in (ADA, GRACE)]
    argon2id_env = env | {"PASSWORD_HASHER": "argon2id"}
    async with serving(argon2id_env, tmp_path, name="argon2id") as server, server.client() as http:
        argon2id_login = await login(http, ALAN.email, ALAN.password)

    for response, user in zip([*bcrypt_logins, argon2id_login], (ADA, GRACE, ALAN), strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["data"]["user"]["name"] == user.name
    everything = await snapshot(node_database)
    user_columns, user_rows = everything["users"]
    assert not any(column.startswith("refreshToken ") for column in user_columns)
    hashes = {email: password for _, _, email, password, *_ in user_rows}
    assert hashes[ADA.email].startswith("$2b$12$")
    assert hashes[GRACE.email].startswith("$2b$12$")
    assert hashes[ALAN.email].startswith("$argon2id$")
    stored_values = {str(value) for _, rows in everything.values() for row in rows for value in row}
    assert not any(
        user.refresh_token in value for user in (ADA, GRACE, ALAN) for value in stored_values
    )


async def refused_adoption(url: str, cwd: Path) -> str:
    """Runs `authsvc db adopt`, which must fail and leave the database exactly as it was; its
    one line of explanation."""
    before = await snapshot(url)

    outcome = await run_command(*AUTHSVC, "db", "adopt", env=environment(DATABASE_URL=url), cwd=cwd)

    assert outcome.returncode == 1, outcome
    assert await snapshot(url) == before
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    return outcome.stderr


@pytest.mark.mysql
async def test_an_adopted_database_is_not_adopted_again(tmp_path: Path) -> None:
    async with fresh_mysql_database() as url:
        await execute(url, NODE_USERS_TABLE)
        await insert_node_users(url, ADA)
        await run_authsvc("db", "adopt", env=environment(DATABASE_URL=url), cwd=tmp_path)

        message = await refused_adoption(url, tmp_path)

    assert message == (
        "authsvc: cannot adopt this database: it is already managed by authsvc "
        "(at revision 0001_original_users); use `db upgrade`\n"
    )


@pytest.mark.mysql
@pytest.mark.parametrize(
    ("statements", "reason"),
    [
        pytest.param([], "it has no users table", id="empty"),
        pytest.param(
            [NODE_USERS_TABLE, "CREATE TABLE sessions (id INT PRIMARY KEY)"],
            "it has tables besides users: sessions",
            id="extra-table",
        ),
        pytest.param(
            [NODE_USERS_TABLE.replace("contact VARCHAR(20),", "role VARCHAR(20),")],
            "its users table is not the original service's: no column contact; extra column role",
            id="other-columns",
        ),
        pytest.param(
            [
                NODE_USERS_TABLE.replace("password VARCHAR(255)", "password VARCHAR(60)")
                .replace("created_at TIMESTAMP", "created_at DATETIME")
                .replace("email VARCHAR(100) UNIQUE", "email VARCHAR(100)")
            ],
            "its users table is not the original service's: password is VARCHAR(60), "
            "not VARCHAR(255); created_at is DATETIME, not TIMESTAMP; email is not unique",
            id="other-types",
        ),
    ],
)
async def test_a_database_not_of_the_original_service_is_refused(
    tmp_path: Path, statements: list[str], reason: str
) -> None:
    async with fresh_mysql_database() as url:
        await execute(url, *statements)

        message = await refused_adoption(url, tmp_path)

    assert message == f"authsvc: cannot adopt this database: {reason}\n"


LEGACY_ADA = NodeUser("Ada", " Ada@Example.COM", "analytical engine", b"2a")
"""An email as the original service stored it: as typed, with a leading space and capitals."""
LOWER_CASE_ADA = NodeUser("Ada2", "ada@example.com ", "second account", b"2a")
"""Another row that becomes `ada@example.com` once trimmed and lower-cased. MySQL's original
collation ignores case and trailing spaces, not leading ones, so both rows could be stored."""


@pytest.fixture(params=DATABASES)
async def empty_node_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The original service's users table, with no users yet."""
    async with fresh_database(request.param, tmp_path) as url:
        await execute(
            url, NODE_USERS_TABLE if request.param == "mysql" else NODE_USERS_TABLE_ON_SQLITE
        )
        yield url


async def test_the_upgrade_normalizes_legacy_emails_which_are_then_listed_so(
    empty_node_database: str, tmp_path: Path
) -> None:
    await insert_node_users(empty_node_database, LEGACY_ADA, GRACE)
    env = environment(DATABASE_URL=empty_node_database)
    await run_authsvc("db", "adopt", env=env, cwd=tmp_path)

    upgrade = await run_command(*AUTHSVC, "db", "upgrade", env=env, cwd=tmp_path)
    listed = await run_command(*AUTHSVC, "users", "list", env=env, cwd=tmp_path)
    registered_again = await run_command(
        *AUTHSVC, "users", "create", "--name", "Ada", "--email", "ada@example.com",
        env=env, cwd=tmp_path, stdin="another password\n",
    )  # fmt: skip
    async with serving(env, tmp_path) as server, server.client() as http:
        logged_in = await login(http, "Ada@example.com", LEGACY_ADA.password)

    assert (listed.returncode, listed.stderr) == (0, "")
    assert [line.split("\t")[1] for line in listed.stdout.splitlines()] == [
        "ada@example.com",
        GRACE.email,
    ]
    assert upgrade.returncode == 0, upgrade.stderr
    assert "user 1: email ' Ada@Example.COM' normalized to 'ada@example.com'" in upgrade.stderr
    assert "user 2" not in upgrade.stderr
    assert registered_again.returncode == 1
    assert "already registered" in registered_again.stderr
    assert logged_in.status_code == 200, logged_in.text
    assert logged_in.json()["data"]["user"]["email"] == "ada@example.com"


async def test_the_upgrade_stops_and_changes_nothing_while_two_emails_would_collide(
    empty_node_database: str, tmp_path: Path
) -> None:
    await insert_node_users(empty_node_database, LEGACY_ADA, GRACE, LOWER_CASE_ADA)
    env = environment(DATABASE_URL=empty_node_database)
    await run_authsvc("db", "adopt", env=env, cwd=tmp_path)
    before = await snapshot(empty_node_database)

    upgrade = await run_command(*AUTHSVC, "db", "upgrade", env=env, cwd=tmp_path)

    assert upgrade.returncode == 1
    assert await snapshot(empty_node_database) == before
    assert upgrade.stderr == (
        "authsvc: database left unchanged: emails of several users become one address once "
        "trimmed and lower-cased: 'ada@example.com' from ids 1 (' Ada@Example.COM'), "
        "3 ('ada@example.com '). Change or delete all but one of each, then run "
        "`authsvc db upgrade` again\n"
    )
