"""The token cookies are rendered without http.cookies: each header must be byte for byte the
one Litestar's Cookie renders, and anything but a token value goes through Litestar."""

import pytest
from litestar.datastructures import Cookie

from application.ports import TokenPair
from interfaces.http.auth import TokenCookie, TokenCookies

TOKENS = TokenPair(
    access_token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl-_",
    refresh_token="eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJhYmMifQ.b3RoZXI_-",
    access_expires_in=900,
    refresh_expires_in=604800,
)


def litestar_rendering(cookie: Cookie) -> tuple[bytes, bytes]:
    return Cookie.to_encoded_header(cookie)


@pytest.mark.parametrize("secure", [True, False])
def test_token_cookies_render_as_litestar_does(secure: bool) -> None:
    cookies = TokenCookies(secure=secure).set(TOKENS)

    assert [type(cookie) for cookie in cookies] == [TokenCookie, TokenCookie]
    for cookie in cookies:
        assert cookie.to_encoded_header() == litestar_rendering(cookie)
    assert cookies[1].to_encoded_header() == (
        b"set-cookie",
        f"refreshToken={TOKENS.refresh_token}; HttpOnly; Max-Age=604800; Path=/users;"
        f" SameSite=lax{'; Secure' if secure else ''}".encode(),
    )


def test_clearing_cookies_are_rendered_by_litestar() -> None:
    """An empty value is quoted (`""`): not a token."""
    cookies = TokenCookies(secure=True).clear()

    assert [type(cookie) for cookie in cookies] == [Cookie, Cookie]
    assert cookies[0].to_encoded_header()[1].startswith(b'accessToken=""; HttpOnly; Max-Age=0;')


@pytest.mark.parametrize(
    "attributes",
    [
        {"domain": "example.com"},
        {"samesite": "strict", "httponly": None, "max_age": None},
        {"samesite": "none", "secure": True},
    ],
)
def test_other_attributes_render_as_litestar_does(attributes: dict[str, object]) -> None:
    cookie = TokenCookie(key="accessToken", value=TOKENS.access_token, **attributes)  # type: ignore[arg-type]

    assert cookie.to_encoded_header() == litestar_rendering(cookie)


def test_an_expiry_date_is_rendered_by_litestar() -> None:
    cookie = TokenCookie(key="accessToken", value=TOKENS.access_token, expires=60)

    assert b"; expires=" in cookie.to_encoded_header()[1]
