"""Checks that run before a handler: who the client is, whether a browser request comes from a
site allowed to make it, whether the client is sending too much, and whether the body fits."""

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException

from interfaces.http.schemas import check_request_body
from interfaces.http.wiring import wiring

Connection = ASGIConnection[Any, Any, Any, Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
THROTTLED: Final[Mapping[str, bool]] = {"throttled": True}
"""The `opt` of a handler whose requests count against their client's allowance."""


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
    proxies: TrustedProxies = connection.app.state.trusted_proxies
    own_origin = f"{proxies.scheme(connection)}://{connection.headers.get('host')}"
    allowed_origins: frozenset[str] = connection.app.state.allowed_origins
    if origin == own_origin or origin in allowed_origins:
        return
    raise PermissionDeniedException("Cross-site request refused")


async def _throttle_client(connection: Connection) -> None:
    """Counts the request against its client's allowance for the authentication endpoints
    (clients with no address, on a UNIX socket, included)."""
    await wiring(connection).use_cases.throttle_client(client_ip(connection))
