"""The DeviceTokens contract on its JWT adapter: only a token it issued, unexpired at the clock's
time, reads back; anything else is None, never an error."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from domain.users import Email, PasswordHash, User
from infrastructure.security.device_tokens import JwtDeviceTokens
from infrastructure.security.tokens import JwtTokenIssuer
from tests.fakes import FixedClock

SECRET = "r" * 40
TTL = timedelta(days=90)
ISSUED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DEVICE_KEY = hmac.new(SECRET.encode(), b"authsvc device token", hashlib.sha256).digest()


def make_tokens(secret: str = SECRET) -> JwtDeviceTokens:
    return JwtDeviceTokens(secret=secret, ttl=TTL, issuer="authsvc", audience="authsvc")


def make_user() -> User:
    return User(
        id=42,
        name="Ada",
        email=Email("ada@example.com"),
        password_hash=PasswordHash("$2b$04$" + "a" * 53),
        bio=None,
        contact=None,
        created_at=ISSUED_AT,
    )


def crafted(**changes: Any) -> str:
    claims = {
        "sub": "42",
        "email": "ada@example.com",
        "did": "some-device",
        "typ": "device",
        "iat": int(ISSUED_AT.timestamp()),
        "exp": int((ISSUED_AT + TTL).timestamp()),
        "iss": "authsvc",
        "aud": "authsvc",
    } | changes
    return jwt.encode(
        {key: value for key, value in claims.items() if value is not None}, DEVICE_KEY
    )


def test_an_issued_token_reads_back_bound_to_the_user_and_email() -> None:
    tokens = make_tokens()

    claims = tokens.read(tokens.issue(user=make_user(), now=ISSUED_AT), ISSUED_AT)

    assert claims is not None
    assert (claims.user_id, claims.email) == (42, "ada@example.com")


def test_every_token_names_a_new_device() -> None:
    tokens = make_tokens()
    first, second = (tokens.issue(user=make_user(), now=ISSUED_AT) for _ in range(2))

    assert tokens.read(first, ISSUED_AT) != tokens.read(second, ISSUED_AT)


def test_a_token_expires_by_the_clock_it_is_read_with() -> None:
    tokens = make_tokens()
    token = tokens.issue(user=make_user(), now=ISSUED_AT)

    assert tokens.read(token, ISSUED_AT + TTL - timedelta(seconds=1)) is not None
    assert tokens.read(token, ISSUED_AT + TTL) is None


def test_a_crafted_token_with_the_right_key_reads_back() -> None:
    assert make_tokens().read(crafted(), ISSUED_AT) is not None


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(crafted(typ="access"), id="another type"),
        pytest.param(crafted(aud="elsewhere"), id="another audience"),
        pytest.param(crafted(iss="elsewhere"), id="another issuer"),
        pytest.param(crafted(did=None), id="no device id"),
        pytest.param(crafted(sub="0042"), id="a user id not issued"),
        pytest.param(crafted(email=7), id="an email not a string"),
        pytest.param(jwt.encode({"sub": "42"}, "", algorithm="none"), id="unsigned"),
        pytest.param(make_tokens("x" * 40).issue(user=make_user(), now=ISSUED_AT), id="other key"),
        pytest.param("not.a.token", id="garbage"),
    ],
)
def test_anything_else_reads_as_none(token: str) -> None:
    assert make_tokens().read(token, ISSUED_AT) is None


def test_an_access_token_signed_with_the_same_secret_is_not_a_device_token() -> None:
    issuer = JwtTokenIssuer(
        access_secret=SECRET,
        refresh_secret=SECRET + "!",
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=7),
        issuer="authsvc",
        audience="authsvc",
        clock=FixedClock(ISSUED_AT),
    )
    user = make_user()
    pair = issuer.issue(
        user_id=user.id,
        email=user.email,
        session_id="s",
        now=ISSUED_AT,
        session_expires_at=ISSUED_AT + TTL,
    )

    assert make_tokens().read(pair.access_token, ISSUED_AT) is None
