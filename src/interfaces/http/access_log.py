"""One log line per request, and a request id that ties it to the request's other log lines."""

import logging
import re
import time
import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from infrastructure.logs import request_id_var

logger = logging.getLogger("authsvc.access")

REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is echoed only if it is short and plain: it ends up in logs and headers.
_ACCEPTABLE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    """Takes `X-Request-ID` from the request (or makes one), echoes it in the response, and
    logs method, path, status and duration. The query string is never logged."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        request_id = _request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_request_id)
        finally:
            if logger.isEnabledFor(logging.INFO):
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                logger.info(
                    "%s %s %s %.1fms",
                    method,
                    path,
                    status,
                    duration_ms,
                    extra={
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )
            request_id_var.reset(token)

    return middleware


def _request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _ACCEPTABLE_REQUEST_ID.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex
