"""Files only the service's user may touch: the embedded SQLite database, its directory, and
the secrets generated beside it. Password hashes and signing secrets must not be readable by
the other accounts of the machine."""

import contextlib
import os
import stat
from pathlib import Path


def make_private_directory(path: Path) -> None:
    """Creates `path` (with any missing parents) for its owner only, 0700. A directory that
    already exists is left as its owner set it up."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode passes through the umask


def create_private_file(path: Path) -> None:
    """Creates `path` empty, 0600, in a private directory, unless it exists. SQLite would
    create a missing database file with the umask's permissions (0644 usually), and gives its
    -wal and -shm files the database file's; an empty file is an empty database to it."""
    make_private_directory(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def why_not_private(path: Path) -> str | None:
    """What makes the existing file `path` unfit to hold secrets, or None: another owner than
    this process's user, or any permission for the group or others."""
    status = path.stat()
    if status.st_uid != os.geteuid():
        return (
            f"{path} belongs to user id {status.st_uid}, not to the service's user "
            f"(id {os.geteuid()}); chown it, or delete it to generate new secrets"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        return (
            f"{path} is open to other users (mode {mode:04o}); "
            "chmod 600 it (or delete it to generate new secrets, if someone may have read them)"
        )
    return None
