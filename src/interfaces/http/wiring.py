"""What handlers reach through the request rather than as Litestar dependencies.

Litestar resolves dependencies that do not depend on each other concurrently, each batch in an
anyio task group of its own (litestar#4563): with the principal, a use case and the cookie
settings as dependencies, the task group alone was ~8% of an update-profile request's CPU, and
resolving the principal alone still ~2%. So handlers have no Litestar dependency: they take
the use cases and the way tokens go out from here, and call `auth.authenticated` for the
principal."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection

from infrastructure.container import Container

if TYPE_CHECKING:
    from interfaces.http.auth import TokenCookies


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    container: Container
    token_cookies: "TokenCookies"
    tokens_in_body: bool
    """Whether token responses carry the tokens in the JSON body as well (TOKENS_IN_BODY)."""


def wiring(connection: ASGIConnection[Any, Any, Any, Any]) -> Wiring:
    wired: Wiring = connection.app.state.wiring
    return wired
