"""Checks that run before a handler: who the client is, whether a browser request comes from a
site allowed to make it, whether the client is sending too much, and whether the body fits."""

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, Final

from granian.utils.proxies import wrap_asgi_with_proxy_headers
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp

from interfaces.http.schemas import check_request_body
from interfaces.http.wiring import wiring

Connection = ASGIConnection[Any, Any, Any, Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
THROTTLED: Final[Mapping[str, bool]] = {"throttled": True}
"""The `opt` of a handler whose requests count against their client's allowance."""


def client_ip(connection: Connection) -> str | None:
    """The client's address: the peer's, or the one a trusted proxy forwarded (`behind_proxies`
    put it in the scope). A proxy's placeholder such as `unknown` is no address at all."""
    host = connection.client.host if connection.client else None
    if host is None or not _is_address(host):
        return None
    return host


def behind_proxies(app: ASGIApp, networks: tuple[IPv4Network | IPv6Network, ...]) -> ASGIApp:
    """`app` believing `X-Forwarded-For` and `X-Forwarded-Proto` only from a peer in one of
    TRUSTED_PROXIES (granian's proxy-headers middleware, whatever server runs the app). Of
    `X-Forwarded-For`, the nearest address that is not a trusted proxy itself is the client:
    entries to the left of it are whatever the client claimed."""
    if not networks:
        return app
    trusted = [str(network) for network in networks]
    wrapped: ASGIApp = wrap_asgi_with_proxy_headers(app, trusted_hosts=trusted)
    return wrapped


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


async def check_request(request: Request[Any, Any, Any]) -> None:
    """The application's one `before_request` hook (one on a lower layer would replace it, not
    run with it). Cross-site refusal, then the client's allowance, then the body: a cross-site
    or throttled request is refused as such whatever its body, and a throttled handler counts
    every request, malformed ones included."""
    _refuse_cross_site(request)
    if request.route_handler.opt.get("throttled"):
        await _throttle_client(request)
    await check_request_body(request)


def _refuse_cross_site(connection: Connection) -> None:
    """CSRF defence on every change, cookies or not (a foreign page must not log a browser
    into the attacker's account either): an `Origin` that is neither this service's own nor
    one of CORS_ORIGINS is refused, and so is a browser's `Sec-Fetch-Site: cross-site`
    without `Origin`. Clients that send neither (API clients, scripts) pass."""
    if connection.scope.get("method") not in UNSAFE_METHODS:
        return
    origin = connection.headers.get("origin")
    if origin is None:
        if connection.headers.get("sec-fetch-site") == "cross-site":
            raise PermissionDeniedException("Cross-site request refused")
        return
    own_origin = f"{connection.scope['scheme']}://{connection.headers.get('host')}"
    allowed_origins: frozenset[str] = connection.app.state.allowed_origins
    if origin == own_origin or origin in allowed_origins:
        return
    raise PermissionDeniedException("Cross-site request refused")


async def _throttle_client(connection: Connection) -> None:
    """Counts the request against its client's allowance for the authentication endpoints
    (clients with no address, on a UNIX socket, included)."""
    await wiring(connection).use_cases.throttle_client(client_ip(connection))
