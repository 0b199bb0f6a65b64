"""The embedded database, its directory and its generated secrets are the service user's alone."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.migrate import upgrade_database
from infrastructure.private_files import (
    create_private_file,
    make_private_directory,
    why_not_private,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The umask of most systems, under which files are made readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_directory_is_the_owners_only(tmp_path: Path) -> None:
    make_private_directory(tmp_path / "data")

    assert mode_of(tmp_path / "data") == 0o700


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)

    make_private_directory(tmp_path / "shared")

    assert mode_of(tmp_path / "shared") == 0o755


def test_a_new_file_is_the_owners_only_in_a_private_directory(tmp_path: Path) -> None:
    create_private_file(tmp_path / "data" / "authsvc.db")

    assert mode_of(tmp_path / "data") == 0o700
    assert mode_of(tmp_path / "data" / "authsvc.db") == 0o600
    assert (tmp_path / "data" / "authsvc.db").read_bytes() == b""


def test_an_existing_file_keeps_its_content(tmp_path: Path) -> None:
    (tmp_path / "authsvc.db").write_bytes(b"SQLite format 3\x00")

    create_private_file(tmp_path / "authsvc.db")

    assert (tmp_path / "authsvc.db").read_bytes() == b"SQLite format 3\x00"


async def test_the_sqlite_database_and_its_journal_files_are_the_owners_only(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/data/authsvc.db")
    try:
        await upgrade_database(engine)
        files = {path.name: mode_of(path) for path in (tmp_path / "data").iterdir()}
    finally:
        await engine.dispose()

    assert mode_of(tmp_path / "data") == 0o700
    assert files.keys() >= {"authsvc.db", "authsvc.db-wal", "authsvc.db-shm"}
    assert set(files.values()) == {0o600}


def test_a_file_of_the_owner_only_is_private(tmp_path: Path) -> None:
    create_private_file(tmp_path / "authsvc.secrets")

    assert why_not_private(tmp_path / "authsvc.secrets") is None


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_file_open_to_others_is_not_private(tmp_path: Path, mode: int) -> None:
    secrets_file = tmp_path / "authsvc.secrets"
    secrets_file.write_text("")
    secrets_file.chmod(mode)

    problem = why_not_private(secrets_file)

    assert problem is not None
    assert f"mode {mode:04o}" in problem
    assert "chmod 600" in problem


def test_a_file_of_another_user_is_not_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_private_file(tmp_path / "authsvc.secrets")
    owner = (tmp_path / "authsvc.secrets").stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)

    problem = why_not_private(tmp_path / "authsvc.secrets")

    assert problem is not None
    assert f"belongs to user id {owner}, not to the service's user (id {owner + 1})" in problem
