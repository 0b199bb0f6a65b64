"""What handlers reach through the request rather than as Litestar dependencies.

Litestar resolves dependencies that do not depend on each other concurrently, each batch in an
anyio task group of its own (litestar#4563): with the principal, a use case and the cookie
settings as dependencies, the task group alone was ~8% of an update-profile request's CPU, and
resolving the principal alone still ~2%. So handlers have no Litestar dependency: they take
the use cases, resolved once at start-up, and the way tokens go out from `wiring(request)`,
and call `authenticated` for the principal."""

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

from application.authentication import AuthenticateCommand, Principal
from application.ports import AccessClaims
from domain.errors import NotAuthenticated
from infrastructure.container import Services
from infrastructure.persistence.health import DatabaseProbe
from interfaces.http.auth import TokenCookies, access_token_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    use_cases: Services
    database_probe: DatabaseProbe
    token_cookies: TokenCookies
    tokens_in_body: bool
    """Whether token responses carry the tokens in the JSON body as well (TOKENS_IN_BODY)."""


def wiring(connection: ASGIConnection[Any, Any, Any, Any]) -> Wiring:
    """What the app's lifespan put on its state at start-up."""
    wired: Wiring = connection.app.state.wiring
    return wired


async def authenticated(request: Request[Any, Any, Any]) -> Principal:
    """Who makes the request, its session checked; NotAuthenticated (401) for anyone else.

    Handlers call this rather than take it as a Litestar dependency, whose resolution added
    ~2% to an update-profile request's CPU (py-spy)."""
    command = AuthenticateCommand(access_token=_required_access_token(request))
    return await wiring(request).use_cases.authenticate(command)


def access_claims_of(request: Request[Any, Any, Any]) -> AccessClaims:
    """The access token's claims, its session still to be checked by the use case."""
    return wiring(request).use_cases.authenticate.read_token(_required_access_token(request))


def _required_access_token(request: Request[Any, Any, Any]) -> str:
    token = access_token_of(request)
    if token is None:
        raise NotAuthenticated
    return token
