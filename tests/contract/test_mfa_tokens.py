"""The MfaTokens contract on its JWT adapter: only a token it issued, unexpired at the given
time, reads back; anything else, the service's other tokens included, is NotAuthenticated."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from domain.errors import NotAuthenticated
from domain.second_factor import MfaChallenge
from domain.users import Email
from infrastructure.security.mfa_tokens import JwtMfaTokens
from infrastructure.security.tokens import JwtTokenIssuer
from tests.fakes import FixedClock

SECRET = "a" * 20 + "b" * 20
ISSUED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EXPIRES_AT = ISSUED_AT + timedelta(minutes=5)
MFA_KEY = hmac.new(SECRET.encode(), b"authsvc mfa token", hashlib.sha256).digest()


def make_tokens() -> JwtMfaTokens:
    return JwtMfaTokens(secret=SECRET, issuer="authsvc", audience="authsvc")


def challenge() -> MfaChallenge:
    return MfaChallenge.start(user_id=42, password_hash="$2b$04$hash", expires_at=EXPIRES_AT)


def crafted(key: bytes = MFA_KEY, **changes: Any) -> str:
    claims = {
        "sub": "42",
        "jti": "attempt",
        "typ": "mfa",
        "iat": int(ISSUED_AT.timestamp()),
        "exp": int(EXPIRES_AT.timestamp()),
        "iss": "authsvc",
        "aud": "authsvc",
    } | changes
    present = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(present, key, algorithm="HS256")


def test_an_issued_token_names_its_user_and_attempt_until_the_attempt_expires() -> None:
    tokens, attempt = make_tokens(), challenge()
    token = tokens.issue(attempt, now=ISSUED_AT)

    claims = tokens.read(token, EXPIRES_AT - timedelta(seconds=1))

    assert (claims.user_id, claims.challenge_id) == (42, attempt.id)
    with pytest.raises(NotAuthenticated):
        tokens.read(token, EXPIRES_AT)


@pytest.mark.parametrize(
    "token",
    [
        crafted(typ="access"),
        crafted(iss="someone-else"),
        crafted(aud="another-api"),
        crafted(sub="0"),
        crafted(sub=42),
        crafted(jti=None),
        crafted(jti=""),
        crafted(exp=None),
        crafted(key=SECRET.encode()),  # the raw secret, not the derived key
        jwt.encode({"sub": "42"}, None, algorithm="none"),
        "not a token",
    ],
)
def test_anything_else_is_refused(token: str) -> None:
    with pytest.raises(NotAuthenticated):
        make_tokens().read(token, ISSUED_AT)


def test_it_takes_no_access_or_refresh_token_and_they_take_no_mfa_token() -> None:
    clock = FixedClock(ISSUED_AT)
    issuer = JwtTokenIssuer(
        access_secret=SECRET,
        refresh_secret="c" * 20 + "d" * 20,
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=7),
        issuer="authsvc",
        audience="authsvc",
        clock=clock,
    )
    pair = issuer.issue(
        user_id=42,
        email=Email("ada@example.com"),
        session_id="s",
        now=ISSUED_AT,
        session_expires_at=ISSUED_AT + timedelta(days=1),
    )
    mfa_token = make_tokens().issue(challenge(), now=ISSUED_AT)

    for token in (pair.access_token, pair.refresh_token):
        with pytest.raises(NotAuthenticated):
            make_tokens().read(token, ISSUED_AT)
    with pytest.raises(NotAuthenticated):
        issuer.read_access_token(mfa_token)
    with pytest.raises(NotAuthenticated):
        issuer.read_refresh_token(mfa_token)
