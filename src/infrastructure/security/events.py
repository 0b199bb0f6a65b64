"""Security events as log records on `authsvc.security`, one per event, for a SIEM to pick up."""

import logging

from application.ports import SecurityEvent, SecurityLog

_logger = logging.getLogger("authsvc.security")

_WARNING_SUFFIXES = ("_failed", "_reused", "_throttled")
"""Events that may mean an attack (login_failed, refresh_token_reused, ...) are WARNING."""


def _printable(value: object) -> str:
    """Client-supplied values (an IP from a header, a user agent) cannot forge extra lines in
    a text log."""
    return "".join(char if char.isprintable() else "?" for char in str(value))


class LoggingSecurityLog(SecurityLog):
    """Fields go both into the message, for text logs, and into `extra`, for JSON logs."""

    def record(self, event: SecurityEvent) -> None:
        fields = {
            "user_id": event.user_id,
            "session_id": event.session_id,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "reason": event.reason,
        }
        details = "".join(
            f" {name}={_printable(value)}" for name, value in fields.items() if value is not None
        )
        level = logging.WARNING if event.name.endswith(_WARNING_SUFFIXES) else logging.INFO
        _logger.log(
            level,
            "security event %s%s",
            _printable(event.name),
            details,
            extra={"event": event.name, **fields},
        )
