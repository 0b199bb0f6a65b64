"""The `authsvc` command: run the service and manage its database, with no HTTP needed."""

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from infrastructure.logs import configure_logging
from infrastructure.persistence.migrate import upgrade_database
from infrastructure.persistence.sql import create_engine
from infrastructure.settings import ConfigurationError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        print(f"authsvc: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    return int(arguments.run(settings, arguments) or 0)


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
    return parser


def _serve(settings: Settings, arguments: argparse.Namespace) -> None:
    # Imported here: the server's runtime is only needed by this command.
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    if settings.secrets_generated:
        print(
            "authsvc: no ACCESS_TOKEN_SECRET/REFRESH_TOKEN_SECRET set; using secrets generated "
            "for the embedded database (set your own in production)",
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


def _upgrade(settings: Settings, arguments: argparse.Namespace) -> None:
    async def run() -> None:
        # Migrating a large adopted table can take minutes; requests keep the short timeout.
        engine = create_engine(settings.database_url, timeout_seconds=600)
        try:
            await upgrade_database(engine, arguments.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"authsvc: database at {arguments.revision}")


if __name__ == "__main__":
    sys.exit(main())
