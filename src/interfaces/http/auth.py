"""Where the tokens travel: reading them from a request, setting and clearing their cookies."""

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from application.authentication import Principal
from application.ports import TokenPair
from domain.errors import NotAuthenticated
from interfaces.http.wiring import wiring

ACCESS_COOKIE = "accessToken"
REFRESH_COOKIE = "refreshToken"
# The refresh token is only ever needed by /users/refresh-token and /users/logout.
REFRESH_COOKIE_PATH = "/users"


def access_token_of(request: Request[Any, Any, Any]) -> str | None:
    """The `accessToken` cookie, else an `Authorization: Bearer` header."""
    if token := request.cookies.get(ACCESS_COOKIE):
        return token
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def refresh_token_of(request: Request[Any, Any, Any], from_body: str | None) -> str | None:
    """The `refreshToken` cookie, else the one in the JSON body."""
    return request.cookies.get(REFRESH_COOKIE) or from_body or None


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    token = access_token_of(request)
    if token is None:
        raise NotAuthenticated
    return await wiring(request).container.authenticate()(token)


def user_agent(request: Request[Any, Any, Any]) -> str | None:
    return request.headers.get("user-agent")


class TokenCookies:
    """Both cookies are HttpOnly and SameSite=Lax; clearing repeats every attribute but
    the value and lifetime, or browsers keep the original cookie."""

    def __init__(self, *, secure: bool) -> None:
        self._secure = secure

    def set(self, tokens: TokenPair) -> list[Cookie]:
        return [
            self._cookie(ACCESS_COOKIE, tokens.access_token, "/", tokens.access_expires_in),
            self._cookie(
                REFRESH_COOKIE, tokens.refresh_token, REFRESH_COOKIE_PATH, tokens.refresh_expires_in
            ),
        ]

    def clear(self) -> list[Cookie]:
        return [
            self._cookie(ACCESS_COOKIE, "", "/", 0),
            self._cookie(REFRESH_COOKIE, "", REFRESH_COOKIE_PATH, 0),
        ]

    def _cookie(self, key: str, value: str, path: str, max_age: int) -> Cookie:
        return Cookie(
            key=key,
            value=value,
            path=path,
            max_age=max_age,
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )
