"""The `authsvc` command: run the service, manage its database, and administer users and
sessions through the same use cases as the HTTP API, with no HTTP needed.

A broken rule prints one line per problem to stderr and exits 1; a bad configuration exits 2.
"""

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any, Final, TypeVar

from application.accounts import DeleteAccountCommand, ListUsersQuery, RegisterCommand
from application.ports import EmailMessage, Mailer
from application.second_factor import ResetSecondFactorCommand
from domain.errors import DomainError, StorageUnavailable, ValidationFailed
from domain.users import Email, User, is_unsafe_to_display
from infrastructure.container import Container, Services, running
from infrastructure.logs import configure_logging
from infrastructure.persistence.engine import create_engine
from infrastructure.persistence.legacy_emails import LegacyEmailsCollide
from infrastructure.persistence.migrate import (
    ORIGINAL_REVISION,
    AdoptionRefused,
    adopt_database,
    upgrade_database,
)
from infrastructure.settings import ConfigurationError, Settings

T = TypeVar("T")

COMMAND_DATABASE_TIMEOUT: Final = timedelta(minutes=10)
"""How long a command waits on the database, where the service waits a second or two: no
client is waiting for a quick 503, and migrating or purging a large table takes minutes."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        print(f"authsvc: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return int(arguments.run(settings, arguments) or 0)
    except DomainError as error:
        for line in _problems(error):
            print(f"authsvc: {line}", file=sys.stderr)
        return 1


def _problems(error: DomainError) -> list[str]:
    if isinstance(error, ValidationFailed) and error.errors:
        return [f"{field_error.field}: {field_error.message}" for field_error in error.errors]
    if isinstance(error, StorageUnavailable) and error.__cause__ is not None:
        # The driver's first line says why (refused, unknown host, access denied); the lines
        # after it may quote SQL.
        first_line = str(error.__cause__).partition("\n")[0]
        return [f"database unavailable: {first_line}"]
    return [error.message]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authsvc", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to bind (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT, else 5000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.set_defaults(run=_serve)

    database = commands.add_parser("db", help="manage the database schema")
    database_commands = database.add_subparsers(required=True, metavar="ACTION")
    upgrade = database_commands.add_parser("upgrade", help="apply pending migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(run=_upgrade)
    adopt = database_commands.add_parser(
        "adopt", help="take over the database of the original Node service (then db upgrade)"
    )
    adopt.set_defaults(run=_adopt)

    sessions = commands.add_parser("sessions", help="housekeeping of login sessions")
    sessions_commands = sessions.add_subparsers(required=True, metavar="ACTION")
    purge = sessions_commands.add_parser("purge", help="delete expired and revoked sessions")
    purge.set_defaults(run=_purge_sessions)

    users = commands.add_parser("users", help="administer user accounts")
    users_commands = users.add_subparsers(required=True, metavar="ACTION")
    create = users_commands.add_parser(
        "create", help="register a user; the password is read from stdin, never from arguments"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.set_defaults(run=_create_user)
    delete = users_commands.add_parser("delete", help="delete a user and all their sessions")
    delete.add_argument("id", type=int, metavar="ID")
    delete.set_defaults(run=_delete_user)
    mfa_reset = users_commands.add_parser(
        "mfa-reset",
        help="turn a user's second factor off, for a support desk that has checked who asks;"
        " logged as a security event, and the user is told by email",
    )
    mfa_reset.add_argument("id", type=int, metavar="ID")
    mfa_reset.set_defaults(run=_reset_second_factor)
    listing = users_commands.add_parser(
        "list", help="print id, email, name and creation time, tab-separated, in id order"
    )
    listing.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N users (default: 100)"
    )
    listing.add_argument("--after", type=int, default=0, metavar="ID", help="start after user ID")
    listing.set_defaults(run=_list_users)

    mail = commands.add_parser("mail", help="the outgoing mail")
    mail_commands = mail.add_subparsers(required=True, metavar="ACTION")
    test = mail_commands.add_parser(
        "test", help="send a test message through the configured mailer (SMTP_HOST or MAIL_DIR)"
    )
    test.add_argument("address", metavar="ADDRESS")
    test.set_defaults(run=_send_test_mail)
    deliver = mail_commands.add_parser(
        "deliver",
        help="send the mail that is due in the outbox, once (for cron or a worker); exit 1 if"
        " some could not be sent",
    )
    deliver.set_defaults(run=_deliver_mail)
    return parser


def _serve(settings: Settings, arguments: argparse.Namespace) -> None:
    # Imported here: the server's runtime is only needed by this command.
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    if settings.secrets_generated:
        print(
            "authsvc: ACCESS_TOKEN_SECRET/REFRESH_TOKEN_SECRET or DATA_ENCRYPTION_KEY not set;"
            " using secrets generated for the embedded database (set your own in production)",
            file=sys.stderr,
        )
    Granian(
        "interfaces.http.app:build_app",
        factory=True,
        address=arguments.host or settings.host,
        port=arguments.port or settings.port,
        interface=Interfaces.ASGI,
        workers=arguments.workers,
        loop=Loops.uvloop if os.name == "posix" else Loops.asyncio,
        log_level=LogLevels(settings.log_level.lower()),
    ).serve()


def _upgrade(settings: Settings, arguments: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(
            settings.database_url, timeout_seconds=COMMAND_DATABASE_TIMEOUT.total_seconds()
        )
        try:
            await upgrade_database(engine, arguments.revision)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except LegacyEmailsCollide as collision:
        print(f"authsvc: database left unchanged: {collision}", file=sys.stderr)
        return 1
    print(f"authsvc: database at {arguments.revision}")
    return 0


def _adopt(settings: Settings, arguments: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(
            settings.database_url, timeout_seconds=COMMAND_DATABASE_TIMEOUT.total_seconds()
        )
        try:
            await adopt_database(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except AdoptionRefused as refusal:
        print(f"authsvc: cannot adopt this database: {refusal}", file=sys.stderr)
        return 1
    print(f"authsvc: database adopted at {ORIGINAL_REVISION}; now run `authsvc db upgrade`")
    return 0


def _purge_sessions(settings: Settings, arguments: argparse.Namespace) -> None:
    purged = _with_use_cases(settings, lambda use_cases: use_cases.purge_expired_sessions())
    print(f"authsvc: deleted {purged} expired or revoked sessions")


def _create_user(settings: Settings, arguments: argparse.Namespace) -> None:
    command = RegisterCommand(name=arguments.name, email=arguments.email, password=_password())
    user = _with_use_cases(settings, lambda use_cases: use_cases.register_user(command))
    print(_user_line(user))


def _password() -> str:
    """Typed twice at a terminal, else one line of stdin. Never an argument: any user of the
    machine can read a process's arguments, and the shell keeps them in its history."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise ValidationFailed.for_field("password", "the two entries differ")
        return password
    return sys.stdin.readline().removesuffix("\n").removesuffix("\r")


def _delete_user(settings: Settings, arguments: argparse.Namespace) -> None:
    command = DeleteAccountCommand(user_id=arguments.id)
    _with_use_cases(settings, lambda use_cases: use_cases.delete_account(command))
    print(f"authsvc: deleted user {arguments.id} and all their sessions")


def _reset_second_factor(settings: Settings, arguments: argparse.Namespace) -> None:
    command = ResetSecondFactorCommand(user_id=arguments.id)
    was_on = _with_use_cases(settings, lambda use_cases: use_cases.reset_second_factor(command))
    if was_on:
        print(f"authsvc: turned off the second factor of user {arguments.id}")
    else:
        print(f"authsvc: user {arguments.id} had no second factor on")


def _list_users(settings: Settings, arguments: argparse.Namespace) -> None:
    query = ListUsersQuery(after_id=arguments.after, limit=arguments.limit)
    users = _with_use_cases(settings, lambda use_cases: use_cases.list_users(query))
    for user in users:
        print(_user_line(user))
    if len(users) == arguments.limit:
        print(f"authsvc: there may be more: --after {users[-1].id}", file=sys.stderr)


def _user_line(user: User) -> str:
    created = user.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "\t".join((str(user.id), _escaped(user.email.value), _escaped(user.name), created))


def _escaped(text: str) -> str:
    """`text` with backslashes and the characters that could drive a terminal (an escape
    sequence, a carriage return over the line, a tab that shifts the columns, a bidi override)
    written as Python escapes, so a stored value prints as one inert field. Rows written before
    today's rules, or straight into the database, may hold any of them."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if char == "\\" or is_unsafe_to_display(char)
        else char
        for char in text
    )


def _send_test_mail(settings: Settings, arguments: argparse.Namespace) -> None:
    """A message with nothing in it worth keeping, to see the mail settings work before a
    user's password reset depends on them."""
    message = EmailMessage(
        to=str(Email.parse(arguments.address)),
        subject="authsvc: test message",
        text=(
            "This message was sent by `authsvc mail test` to check the service's mail settings.\n"
            "It needs no action.\n"
        ),
    )
    mailer: Mailer = Container(settings=settings).adapters.mailer()
    asyncio.run(mailer.send(message))
    where = f"SMTP {settings.smtp_host}" if settings.smtp_host else str(settings.mail_dir)
    print(f"authsvc: test message to {message.to} handed to {where}")


def _deliver_mail(settings: Settings, arguments: argparse.Namespace) -> int:
    """One pass, as the service's loop makes every MAIL_POLL_INTERVAL. A message the server
    refused or could not take stays queued for a later attempt (or was given up, and logged):
    exit 1 tells cron and monitors that mail is not getting out."""
    counts = _with_use_cases(settings, lambda use_cases: use_cases.deliver_mail())
    print(
        f"authsvc: mail sent: {counts.sent}, to retry: {counts.retried},"
        f" given up: {counts.given_up}"
    )
    return 1 if counts.retried or counts.given_up else 0


def _with_use_cases(settings: Settings, work: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """Runs one use case the way the HTTP app does, from a container of the settings (with the
    patience of a command), and releases its connections afterwards."""

    async def run() -> T:
        container = Container(settings=replace(settings, database_timeout=COMMAND_DATABASE_TIMEOUT))
        async with running(container) as use_cases:
            return await work(use_cases)

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
