"""Log output: one JSON object per line in production, readable lines in development.

Lines are written by a thread of their own: whoever logs (the event loop, mostly) only puts
the finished line on a queue and never waits on the write. A caller that logs a line on every
request (the access log) may shape it itself and hand it to `direct_output`, skipping the
`LogRecord` and the formatter chain."""

import atexit
import json
import logging
import os
import queue
import sys
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the HTTP request being served, added to every log line written while serving it."""

LogFormat = Literal["json", "console"]

# Attributes every LogRecord has; anything else was passed through `extra=` and is kept.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES
        )
        # Stack traces stay out of the logs on purpose: they can carry SQL parameters.
        return json.dumps(entry, default=str)


_CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL_CHARACTERS = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_ESCAPED_CONTROLS = {code: ascii(chr(code))[1:-1] for code in _CONTROL_CHARACTERS}


class ConsoleFormatter(logging.Formatter):
    """Readable lines, one per record: control characters that came from a client (a `%0a`
    in a request path) are escaped, so they cannot start a forged line of their own."""

    def __init__(self) -> None:
        super().__init__(_CONSOLE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).translate(_ESCAPED_CONTROLS)


BATCH_SECONDS = 0.05


class LineWriter:
    """Writes lines to `stream` from a daemon thread, in batches: `write` only queues."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.start()

    def start(self) -> None:
        """A fresh queue and thread (again in a forked child, which has a copy of the queue
        but no thread: the parent wrote what was queued before the fork)."""
        self._lines: queue.SimpleQueue[str | threading.Event] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        self._lines.put(line)

    def flush(self, timeout: float = 5.0) -> None:
        """Returns once every line queued before the call is written (or after `timeout`)."""
        written = threading.Event()
        self._lines.put(written)
        written.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._lines.get()]
            # Lines gather for a moment: one write, and one wake-up taking the GIL from the
            # event loop, for many lines rather than for each.
            time.sleep(BATCH_SECONDS)
            while not self._lines.empty():
                batch.append(self._lines.get_nowait())
            text = "".join(item for item in batch if isinstance(item, str))
            if text:
                try:
                    self._stream.write(text)
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # a closed or broken stream: logging must never stop the service
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()


class LineHandler(logging.Handler):
    """Formats a record where it is logged (the request id is a context variable there) and
    hands the line to a `LineWriter`."""

    def __init__(self, writer: LineWriter, formatter: logging.Formatter) -> None:
        super().__init__()
        self.writer = writer
        self.setFormatter(formatter)
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.write(self.format(record) + "\n")
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)


class _Stamps:
    """The time of a line as each format writes it. The part down to the second is made once
    a second: `isoformat` and `strftime` were a third of an access line's cost."""

    def __init__(self) -> None:
        self._second = -1
        self._iso = self._console = ""

    def _at(self, second: int) -> None:
        self._second = second
        self._iso = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # logging.Formatter's default asctime is local time.
        self._console = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))

    def iso(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._at(second)
        micros = int((now - second) * 1e6)
        return f"{self._iso}.{micros:06d}+00:00" if micros else f"{self._iso}+00:00"

    def console(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._at(second)
        return f"{self._console},{int((now - second) * 1000):03d}"


_stamps = _Stamps()


def json_time(now: float) -> str:
    """`now` (a `time.time()`) as `JsonFormatter` writes a record's time."""
    return _stamps.iso(now)


def console_line(now: float, logger: str, request_id: str | None, message: str) -> str:
    """An INFO line as `ConsoleFormatter` writes it, newline included."""
    line = f"{_stamps.console(now)} INFO    {logger} [{request_id}] {message}"
    return line.translate(_ESCAPED_CONTROLS) + "\n"


@dataclass(frozen=True, slots=True)
class DirectOutput:
    """Where a line shaped by its caller goes: the writer behind `configure_logging`'s
    handler, and that handler's format."""

    writer: LineWriter
    log_format: LogFormat


@dataclass(frozen=True, slots=True)
class _Installed:
    handler: LineHandler
    output: DirectOutput


_installed: _Installed | None = None


def direct_output(logger: logging.Logger) -> DirectOutput | None:
    """The output `configure_logging` set up, while its handler is the only one a record of
    `logger` would reach. None otherwise (a test's log capture, an embedding application's
    handlers): the caller then logs a record, so that those handlers see it."""
    installed = _installed
    if installed is None or logger.handlers or logging.root.handlers != [installed.handler]:
        return None
    return installed.output


def configure_logging(level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Every line to `stream` (standard error by default) through one `LineWriter`, flushed
    when the process exits."""
    global _installed
    writer = LineWriter(stream if stream is not None else sys.stderr)
    atexit.register(writer.flush)
    handler = LineHandler(writer, JsonFormatter() if log_format == "json" else ConsoleFormatter())
    _installed = _Installed(handler, DirectOutput(writer, log_format))
    # The SQLite driver logs every statement with its parameters at DEBUG: hashes and emails.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def flush_logs() -> None:
    """Waits until every line logged so far is written (a server worker's last act)."""
    if _installed is not None:
        _installed.handler.writer.flush()


def _restart_writer() -> None:
    if _installed is not None:
        _installed.handler.writer.start()


# The server forks its workers after logging is configured. Before a fork, the queue is
# written out (a child forked while the writer held the stream's lock would inherit it held);
# after it, the child gets a writer thread of its own.
os.register_at_fork(before=flush_logs, after_in_child=_restart_writer)
