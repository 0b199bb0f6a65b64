"""Checks that run before a handler: who the client is, whether it is sending too much, and
whether a browser request comes from a site allowed to make it."""

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from interfaces.http.auth import ACCESS_COOKIE, REFRESH_COOKIE

Connection = ASGIConnection[Any, Any, Any, Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TrustedProxies:
    """What a request says about its client, believing `X-Forwarded-*` headers only when the
    peer is one of TRUSTED_PROXIES."""

    def __init__(self, networks: tuple[IPv4Network | IPv6Network, ...]) -> None:
        self._networks = networks

    def client_ip(self, connection: Connection) -> str | None:
        """The peer address, unless the peer is a trusted proxy: then the nearest address in
        `X-Forwarded-For` that is not a trusted proxy itself. Entries to the left of that one
        are whatever the client claimed, and are never believed."""
        peer = self._peer(connection)
        if peer is None or not self._is_trusted(peer):
            return peer
        forwarded = ",".join(connection.headers.getall("x-forwarded-for", []))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop if _is_address(hop) else peer
        return peer

    def scheme(self, connection: Connection) -> str:
        """`http` or `https` as the client used it: a TLS-terminating proxy says which in
        `X-Forwarded-Proto`."""
        peer = self._peer(connection)
        forwarded = connection.headers.get("x-forwarded-proto", "").strip().lower()
        if peer is not None and self._is_trusted(peer) and forwarded in ("http", "https"):
            return forwarded
        return str(connection.scope.get("scheme", "http"))

    @staticmethod
    def _peer(connection: Connection) -> str | None:
        return connection.client.host if connection.client else None

    def _is_trusted(self, address: str) -> bool:
        if not self._networks or not _is_address(address):
            return False
        parsed = ip_address(address)
        return any(parsed in network for network in self._networks)


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def client_ip(connection: Connection) -> str | None:
    proxies: TrustedProxies = connection.app.state.trusted_proxies
    return proxies.client_ip(connection)


async def throttle_client(connection: Connection, _: BaseRouteHandler) -> None:
    """Counts the request against its client's allowance for the authentication endpoints."""
    ip = client_ip(connection)
    if ip is not None:
        await connection.app.state.container.throttle_client()(ip)


async def refuse_cross_site(connection: Connection, _: BaseRouteHandler) -> None:
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
    proxies: TrustedProxies = connection.app.state.trusted_proxies
    own_origin = f"{proxies.scheme(connection)}://{connection.headers.get('host')}"
    allowed_origins: frozenset[str] = connection.app.state.allowed_origins
    if origin == own_origin or origin in allowed_origins:
        return
    raise PermissionDeniedException("Cross-site request refused")
