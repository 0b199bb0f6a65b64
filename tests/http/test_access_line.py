"""The access line's own path (`log_access` under `configure_logging`) against the record path
it replaced: the same line, and every line written, in order, off the caller's thread."""

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from infrastructure.logs import (
    ConsoleFormatter,
    JsonFormatter,
    LineWriter,
    configure_logging,
    flush_logs,
    request_id_var,
)
from interfaces.http.access_log import log_access
from interfaces.http.access_log import logger as access_logger


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def access_record(path: str, request_id: str | None) -> logging.LogRecord:
    """The record the access line was before it had a path of its own."""
    record = logging.makeLogRecord(
        {
            "name": "authsvc.access",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "%s",
            "args": (f"GET {path} 404 1.3ms",),
            "method": "GET",
            "path": path,
            "status": 404,
            "duration_ms": 1.3,
        }
    )
    record.request_id = request_id
    return record


def refuse_records(record: logging.LogRecord) -> None:
    raise AssertionError(f"the access line became a record: {record.getMessage()}")


def logged(
    monkeypatch: pytest.MonkeyPatch, log_format: str, path: str, request_id: str | None
) -> str:
    """The lines `log_access` writes under `configure_logging`, as the stream receives them;
    the access logger takes no record meanwhile."""
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream)  # type: ignore[arg-type]
    monkeypatch.setattr(access_logger, "handle", refuse_records)
    log_access("GET", path, 404, 1.3, request_id)
    flush_logs()
    return stream.getvalue()


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("request_id", ["req-42", None])
def test_the_json_access_line_has_what_the_formatter_gave_the_record(
    monkeypatch: pytest.MonkeyPatch, request_id: str | None
) -> None:
    line = logged(monkeypatch, "json", "/users/profile", request_id)

    assert line.endswith("}\n")
    assert line.count("\n") == 1
    entry = json.loads(line)
    expected = json.loads(JsonFormatter().format(access_record("/users/profile", request_id)))
    assert list(entry) == list(expected)
    assert {**entry, "time": None} == {**expected, "time": None}
    written, formatted = (datetime.fromisoformat(e["time"]) for e in (entry, expected))
    assert abs(written - formatted).total_seconds() < 5


@pytest.mark.usefixtures("restored_logging")
def test_the_console_access_line_reads_as_the_formatter_wrote_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forged = "/users/profile\r\n2026-01-01 00:00:00,000 INFO    authsvc.access [x] GET /admin"

    line = logged(monkeypatch, "console", forged, "req-42")

    expected = ConsoleFormatter().format(access_record(forged, "req-42"))
    stamp = len("2026-01-01 00:00:00,000")
    assert line[stamp:] == expected[stamp:] + "\n"
    assert line.count("\n") == 1
    assert "\r" not in line
    assert "/users/profile\\r\\n2026-01-01" in line
    assert datetime.strptime(line[:stamp], "%Y-%m-%d %H:%M:%S,%f")


@pytest.mark.usefixtures("restored_logging")
def test_other_lines_share_the_writer_in_the_order_they_were_logged() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    token = request_id_var.set("req-7")
    try:
        logging.getLogger("authsvc.security").warning("first", extra={"event": "login_failed"})
        log_access("POST", "/users/login", 401, 2.0, "req-7")
        logging.getLogger("authsvc.security").info("third")
    finally:
        request_id_var.reset(token)
    flush_logs()

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    messages = [entry["message"] for entry in entries]
    assert messages == ["first", "POST /users/login 401 2.0ms", "third"]
    assert [entry["request_id"] for entry in entries] == ["req-7"] * 3


@pytest.mark.usefixtures("restored_logging")
def test_below_info_no_access_line_is_written() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "json", stream)
    log_access("GET", "/users/profile", 200, 1.0, "req-1")
    logging.getLogger("authsvc.security").warning("kept")
    flush_logs()

    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "kept"


@pytest.mark.usefixtures("restored_logging")
def test_with_another_handler_in_place_the_access_line_is_a_record_it_receives() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    records: list[logging.LogRecord] = []
    collector = logging.Handler()
    collector.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(collector)

    log_access("GET", "/users/profile", 200, 1.0, "req-1")
    flush_logs()

    [record] = records
    assert (record.method, record.path) == ("GET", "/users/profile")  # type: ignore[attr-defined]
    assert json.loads(stream.getvalue())["path"] == "/users/profile"


def test_a_writer_writes_every_line_in_order_by_the_time_flush_returns() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream)

    for number in range(1000):
        writer.write(f"{number}\n")
    writer.flush()

    assert stream.getvalue().splitlines() == [str(number) for number in range(1000)]


@pytest.mark.usefixtures("restored_logging")
def test_a_forked_child_writes_its_own_lines_and_none_of_its_parents_twice(
    tmp_path: Path,
) -> None:
    with (tmp_path / "log").open("w+") as stream:
        configure_logging("INFO", "console", stream)
        logging.getLogger("authsvc.test").warning("before the fork")

        child = os.fork()
        if child == 0:  # the server's worker, forked once logging is configured
            logging.getLogger("authsvc.test").warning("in the child")
            flush_logs()
            os._exit(0)
        os.waitpid(child, 0)
        flush_logs()

        stream.seek(0)
        lines = stream.read().splitlines()
    assert [line.rsplit(" ", 3)[-3:] for line in lines] == [
        ["before", "the", "fork"],
        ["in", "the", "child"],
    ]
