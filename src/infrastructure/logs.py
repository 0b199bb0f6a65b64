"""Log output: one JSON object per line in production, readable lines in development."""

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the HTTP request being served, added to every log line written while serving it."""

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


def configure_logging(level: str, log_format: Literal["json", "console"]) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ConsoleFormatter())
    handler.addFilter(RequestIdFilter())
    # The SQLite driver logs every statement with its parameters at DEBUG: hashes and emails.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
