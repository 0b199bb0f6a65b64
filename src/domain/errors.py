"""The one error root of authsvc: every rule a use case enforces fails with a DomainError."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """A broken business rule. `message` is safe to show to the client."""

    default_message: ClassVar[str] = "Request failed"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidValue(DomainError):
    """A single value broke its rule; `collect_field_errors` names the field it came from."""


class ValidationFailed(DomainError):
    default_message = "Validation failed"

    def __init__(self, errors: Sequence[FieldError], message: str | None = None) -> None:
        super().__init__(message)
        self.errors = tuple(errors)

    @classmethod
    def for_field(cls, field: str, message: str) -> "ValidationFailed":
        return cls([FieldError(field, message)])


class EmailAlreadyRegistered(DomainError):
    default_message = "Email already registered"


class InvalidCredentials(DomainError):
    """Unknown email and wrong password share this one message on purpose."""

    default_message = "Invalid email or password"


class EmailNotVerified(DomainError):
    """The password was right, but the account's address is not verified yet and the service
    requires it (REQUIRE_EMAIL_VERIFICATION)."""

    default_message = "Email not verified"


class NotAuthenticated(DomainError):
    """A missing, malformed, expired, wrongly signed or revoked token."""

    default_message = "Authentication required"


class SecondFactorAlreadyEnabled(DomainError):
    default_message = "Two-step verification is already on"


class SessionNotFound(DomainError):
    default_message = "Session not found"


class UserNotFound(DomainError):
    default_message = "User not found"


class TooManyAttempts(DomainError):
    default_message = "Too many attempts, try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Overloaded(DomainError):
    """More work is waiting than the service takes on; it is refused at once rather than
    queued, and may be retried after `retry_after_seconds`."""

    default_message = "Service busy, try again shortly"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class StorageUnavailable(DomainError):
    """The database (or another store) cannot be reached; the request may be retried."""

    default_message = "Service temporarily unavailable"


class MailNotSent(DomainError):
    """The mail server was unreachable or refused the message; it may be tried again later."""

    default_message = "Mail could not be sent"
