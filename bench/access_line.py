"""Times what the event loop pays for one access line: the stdlib chain the service used before
(a `LogRecord` through `RequestIdFilter`, `JsonFormatter` or `ConsoleFormatter` and a
`StreamHandler` that writes and flushes on the caller's thread) against `log_access` as
`configure_logging` sets it up (the line shaped directly, only queued on the caller's thread).

Run: .venv/bin/python bench/access_line.py [--lines N] [--rounds N]
Both write to a temporary file. Prints, per format and path, the median and range of the
rounds' means in microseconds per line, of the calling thread's CPU time (what the event loop
would spend) and of wall time; the new path's writer thread is timed apart, per line.
"""

import argparse
import logging
import statistics
import tempfile
import time
from typing import Literal

from infrastructure.logs import (
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    flush_logs,
    request_id_var,
)
from interfaces.http.access_log import log_access
from interfaces.http.access_log import logger as access_logger

Format = Literal["json", "console"]


def stdlib_chain(log_format: Format, stream: object) -> None:
    """The logging set-up and call of the service before the access line had its own path."""
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level="INFO", handlers=[handler], force=True)


def old_line(method: str, path: str, status: int, duration_ms: float, _: str) -> None:
    access_logger.info(
        "%s %s %s %.1fms",
        method,
        path,
        status,
        duration_ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms},
    )


def one_round(write: object, lines: int) -> tuple[float, float]:
    """Microseconds per line: (calling thread's CPU, wall)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(lines):
        write("GET", "/users/profile", 200, 1.3, "0123456789abcdef0123456789abcdef")  # type: ignore[operator]
    return (
        (time.thread_time() - cpu) / lines * 1e6,
        (time.perf_counter() - wall) / lines * 1e6,
    )


def writer_cpu_per_line(lines: int) -> float:
    """CPU microseconds of every thread but this one, per line, while `lines` lines are
    queued and written (the writer thread's share)."""
    process, own = time.process_time(), time.thread_time()
    for _ in range(lines):
        log_access("GET", "/users/profile", 200, 1.3, "0123456789abcdef0123456789abcdef")
    flush_logs()
    others = (time.process_time() - process) - (time.thread_time() - own)
    return others / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="lines per round")
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    request_id_var.set("0123456789abcdef0123456789abcdef")
    log_format: Format
    for log_format in ("json", "console"):
        with tempfile.TemporaryFile("w+") as sink:
            for name, setup, write in (
                ("stdlib chain", stdlib_chain, old_line),
                ("log_access", configure_logging_to, log_access),
            ):
                setup(log_format, sink)
                rounds = [one_round(write, arguments.lines) for _ in range(arguments.rounds)]
                flush_logs()
                report(f"{log_format:7} {name:12}", rounds)
            writer = writer_cpu_per_line(arguments.lines)
            print(f"{log_format:7} log_access writer thread: {writer:.1f} us CPU per line")
    print(f"({arguments.rounds} rounds of {arguments.lines} lines)")


def configure_logging_to(log_format: Format, stream: object) -> None:
    configure_logging("INFO", log_format, stream)  # type: ignore[arg-type]


def report(name: str, rounds: list[tuple[float, float]]) -> None:
    cpu, wall = [r[0] for r in rounds], [r[1] for r in rounds]
    print(
        f"{name}: caller CPU {statistics.median(cpu):.1f} us ({min(cpu):.1f}-{max(cpu):.1f}), "
        f"wall {statistics.median(wall):.1f} us ({min(wall):.1f}-{max(wall):.1f})"
    )


if __name__ == "__main__":
    main()
