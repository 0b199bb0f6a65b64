"""Every failure becomes the error envelope here, in one place; nothing else picks statuses."""

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from domain.errors import (
    DomainError,
    EmailAlreadyRegistered,
    EmailNotVerified,
    InvalidCredentials,
    NotAuthenticated,
    Overloaded,
    SecondFactorAlreadyEnabled,
    SessionNotFound,
    StorageUnavailable,
    TooManyAttempts,
    UserNotFound,
    ValidationFailed,
)
from interfaces.http.schemas import ErrorEnvelope, FieldErrorView

logger = logging.getLogger("authsvc.http")

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    ValidationFailed: 400,
    InvalidCredentials: 401,
    NotAuthenticated: 401,
    EmailNotVerified: 403,
    UserNotFound: 404,
    SessionNotFound: 404,
    EmailAlreadyRegistered: 409,
    SecondFactorAlreadyEnabled: 409,
    TooManyAttempts: 429,
    Overloaded: 503,
    StorageUnavailable: 503,
}


def error_response(
    status_code: int,
    message: str,
    errors: list[FieldErrorView] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorEnvelope]:
    return Response(
        ErrorEnvelope(status_code=status_code, message=message, errors=errors or []),
        status_code=status_code,
        headers=headers,
    )


def handle_domain_error(_: Request[Any, Any, Any], error: DomainError) -> Response[ErrorEnvelope]:
    status_code = next(
        (status for kind, status in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400
    )
    headers = None
    if isinstance(error, TooManyAttempts | Overloaded):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    field_errors = error.errors if isinstance(error, ValidationFailed) else ()
    return error_response(
        status_code,
        error.message,
        [FieldErrorView(field=item.field, message=item.message) for item in field_errors],
        headers,
    )


def handle_validation_error(
    _: Request[Any, Any, Any], error: ValidationException
) -> Response[ErrorEnvelope]:
    return error_response(400, "Validation failed", _field_errors(error.extra))


def handle_http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[ErrorEnvelope]:
    if error.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        return handle_unexpected_error(_, error)
    return error_response(error.status_code, error.detail, headers=error.headers)


def handle_unexpected_error(
    request: Request[Any, Any, Any], error: Exception
) -> Response[ErrorEnvelope]:
    # The type alone: messages of driver errors can carry SQL and its parameters.
    logger.error("unhandled %s on %s %s", type(error).__name__, request.method, request.url.path)
    return error_response(500, "Internal server error")


def _field_errors(extra: Any) -> list[FieldErrorView]:
    """Litestar's own validation covers path and query parameters only: bodies are decoded
    and reported field by field by `JsonRequest`."""
    if not isinstance(extra, list):
        return []
    return [
        FieldErrorView(
            field=str(item.get("key", "request")), message=str(item.get("message", "is invalid"))
        )
        for item in extra
    ]


EXCEPTION_HANDLERS = {
    DomainError: handle_domain_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected_error,
}
