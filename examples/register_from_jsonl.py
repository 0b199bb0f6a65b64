"""Registers the users of a JSON-lines file through RegisterUser, the use case behind
POST /users/register: a worker that builds the container from the environment, as the service
does, with no HTTP in sight.

    .venv/bin/python examples/register_from_jsonl.py users.jsonl [--concurrency 4]

Each line is {"name": ..., "email": ..., "password": ...}; blank lines are skipped. Every line
is checked as a registration through the API would be. A rejected line is reported on stderr
with its number and reason, and written verbatim to users.rejected.jsonl beside the input, so
that nothing is lost: fix that file and run it again. A progress bar is drawn on stderr when it
is a terminal. Exit status: 0 when every line registered, 1 when any was rejected, 2 when the
configuration or the input cannot be read.
"""

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from application.accounts import RegisterCommand, RegisterUser
from domain.errors import DomainError, FieldError, ValidationFailed
from infrastructure.container import Container, running
from infrastructure.settings import ConfigurationError, Settings

FIELDS = ("name", "email", "password")


class ProgressBar:
    """One line redrawn in place: a bar, done/total and the percentage. Only on a terminal:
    in a log file, redrawing would only pile up; the report lines go there alone."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._done = 0
        self._stream = stream
        self._on_terminal = stream.isatty()
        self._width_on_screen = 0
        self._draw()

    def advance(self) -> None:
        self._done += 1
        self._draw()

    def report(self, message: str) -> None:
        """Writes a line of its own, above the bar."""
        if self._on_terminal:
            self._stream.write("\r" + " " * self._width_on_screen + "\r")
        self._stream.write(message + "\n")
        self._draw()

    def finish(self) -> None:
        if self._on_terminal:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        if not self._on_terminal:
            return
        fraction = self._done / self._total if self._total else 1.0
        filled = round(self.WIDTH * fraction)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"[{bar}] {self._done}/{self._total} {fraction:.0%}"
        self._stream.write("\r" + line)
        self._stream.flush()
        self._width_on_screen = len(line)


def registration(line: bytes) -> RegisterCommand:
    """The command a line asks for; ValidationFailed if it is not one."""
    try:
        fields = json.loads(line)
    except ValueError:  # not UTF-8, or not JSON
        raise ValidationFailed([], "not JSON") from None
    if not isinstance(fields, dict):
        raise ValidationFailed([], "not a JSON object")
    not_strings = [
        FieldError(name, "must be a string")
        for name in FIELDS
        if not isinstance(fields.get(name), str)
    ]
    if not_strings:
        raise ValidationFailed(not_strings)
    return RegisterCommand(name=fields["name"], email=fields["email"], password=fields["password"])


def reason(error: DomainError) -> str:
    if isinstance(error, ValidationFailed) and error.errors:
        return "; ".join(
            f"{field_error.field}: {field_error.message}" for field_error in error.errors
        )
    return error.message


async def register_lines(
    register: RegisterUser,
    lines: list[tuple[int, bytes]],
    concurrency: int,
    progress: ProgressBar,
) -> dict[int, bytes]:
    """Registers each (number, line), `concurrency` at a time: hashing is CPU-bound, and more
    at once would only queue for the hasher's threads. Returns the rejected lines by number."""
    rejected: dict[int, bytes] = {}
    pending = iter(lines)

    async def worker() -> None:
        for number, line in pending:
            try:
                await register(registration(line))
            except DomainError as error:
                rejected[number] = line
                progress.report(f"line {number}: {reason(error)}")
            progress.advance()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return rejected


async def run(
    settings: Settings, lines: list[tuple[int, bytes]], concurrency: int
) -> dict[int, bytes]:
    progress = ProgressBar(len(lines), sys.stderr)
    try:
        async with running(Container(settings=settings)) as use_cases:
            return await register_lines(use_cases.register_user, lines, concurrency, progress)
    finally:
        progress.finish()


def write_rejects(path: Path, rejected: dict[int, bytes]) -> None:
    """The rejected lines in input order, each ending with a newline; no file when none was
    rejected, so that a stale one from an earlier run cannot mislead."""
    if not rejected:
        path.unlink(missing_ok=True)
        return
    with path.open("wb") as rejects:
        for number in sorted(rejected):
            line = rejected[number]
            rejects.write(line if line.endswith(b"\n") else line + b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("input", type=Path, help="a JSON-lines file of users")
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="registrations at once (default: 4)"
    )
    arguments = parser.parse_args(argv)
    if arguments.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        settings = Settings.from_env()
        content = arguments.input.read_bytes()
    except (ConfigurationError, OSError) as error:
        print(f"register_from_jsonl: {error}", file=sys.stderr)
        return 2
    lines = [
        (number, line)
        for number, line in enumerate(content.splitlines(keepends=True), start=1)
        if line.strip()
    ]

    rejected = asyncio.run(run(settings, lines, arguments.concurrency))

    rejects_path = arguments.input.with_suffix(".rejected.jsonl")
    write_rejects(rejects_path, rejected)
    registered = len(lines) - len(rejected)
    summary = f"registered {registered} of {len(lines)} users"
    if rejected:
        summary += f"; {len(rejected)} rejected, written to {rejects_path}"
    print(summary, file=sys.stderr)
    return 1 if rejected else 0


if __name__ == "__main__":
    sys.exit(main())
