"""Checks that run before a handler: who the client is, whether it is sending too much, and
whether a browser request comes from a site allowed to make it."""

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from interfaces.http.auth import ACCESS_COOKIE, REFRESH_COOKIE

Connection = ASGIConnection[Any, Any, Any, Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ClientAddresses:
    """The client's IP: the peer address, unless the peer is a trusted proxy, in which case
    the nearest address in `X-Forwarded-For` that is not a trusted proxy itself. Entries to
    the left of that one are whatever the client claimed, and are never believed."""

    def __init__(self, trusted_proxies: tuple[IPv4Network | IPv6Network, ...]) -> None:
        self._trusted_proxies = trusted_proxies

    def of(self, connection: Connection) -> str | None:
        peer = connection.client.host if connection.client else None
        if peer is None or not self._is_trusted(peer):
            return peer
        forwarded = ",".join(connection.headers.getall("x-forwarded-for", []))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop if _is_address(hop) else peer
        return peer

    def _is_trusted(self, address: str) -> bool:
        if not self._trusted_proxies or not _is_address(address):
            return False
        parsed = ip_address(address)
        return any(parsed in network for network in self._trusted_proxies)


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def client_ip(connection: Connection) -> str | None:
    addresses: ClientAddresses = connection.app.state.client_addresses
    return addresses.of(connection)


async def throttle_client(connection: Connection, _: BaseRouteHandler) -> None:
    """Counts the request against its client's allowance for the authentication endpoints."""
    ip = client_ip(connection)
    if ip is not None:
        await connection.app.state.container.throttle_client()(ip)


def refuse_cross_site(connection: Connection, _: BaseRouteHandler) -> None:
    """CSRF defence for cookie-authenticated changes: an `Origin` that is neither this
    service's own nor one of CORS_ORIGINS is refused. Requests without cookies (API clients
    with a bearer token) and without `Origin` (non-browser clients) pass."""
    origin = connection.headers.get("origin")
    if (
        origin is None
        or connection.scope.get("method") not in UNSAFE_METHODS
        or not (ACCESS_COOKIE in connection.cookies or REFRESH_COOKIE in connection.cookies)
    ):
        return
    own_host = connection.headers.get("host")
    allowed_origins: frozenset[str] = connection.app.state.allowed_origins
    if urlsplit(origin).netloc == own_host or origin in allowed_origins:
        return
    raise PermissionDeniedException("Cross-site request refused")
