"""JwtTokenIssuer remembers the access tokens it has verified: each is decoded once, yet still
expires on time, and nothing that failed or was altered is ever taken from memory."""

from datetime import timedelta
from typing import Any

import jwt
import pytest

from application.ports import AccessClaims
from domain.errors import NotAuthenticated
from infrastructure.security import tokens
from infrastructure.security.tokens import JwtTokenIssuer
from tests.fakes import FixedClock

ACCESS_SECRET = "access-secret-for-tests-" + "0123456789abcdef" * 3
REFRESH_SECRET = "refresh-secret-for-tests-" + "0123456789abcdef" * 3
ISSUER = "authsvc"
AUDIENCE = "authsvc-clients"
LEEWAY_SECONDS = 10


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def make_issuer(
    clock: FixedClock, access_cache_size: int = tokens.ACCESS_TOKEN_CACHE_SIZE
) -> JwtTokenIssuer:
    return JwtTokenIssuer(
        access_secret=ACCESS_SECRET,
        refresh_secret=REFRESH_SECRET,
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=7),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
        leeway=timedelta(seconds=LEEWAY_SECONDS),
        access_cache_size=access_cache_size,
    )


def craft(clock: FixedClock, typ: str = "access", **overrides: Any) -> str:
    """A valid token issued at the clock's time, expiring a minute later, changed by
    `overrides`."""
    issued_at = int(clock.now().timestamp())
    claims = {
        "sub": "42",
        "sid": "session-abc",
        "typ": typ,
        "iat": issued_at,
        "exp": issued_at + 60,
        "jti": "a-unique-id",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "email": "ada@example.com",
        **({"sxp": issued_at + 3600} if typ == "refresh" else {}),
        **overrides,
    }
    secret = ACCESS_SECRET if typ == "access" else REFRESH_SECRET
    return jwt.encode(claims, secret, algorithm="HS256")


def refusal(issuer: JwtTokenIssuer, token: str) -> str:
    with pytest.raises(NotAuthenticated) as refused:
        issuer.read_access_token(token)
    return refused.value.message


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token handed to PyJWT for verification, in order."""
    tokens_seen: list[str] = []
    decode = jwt.PyJWS.decode

    def recording_decode(jws: jwt.PyJWS, token: str, *args: Any, **kwargs: Any) -> Any:
        tokens_seen.append(token)
        return decode(jws, token, *args, **kwargs)

    monkeypatch.setattr(jwt.PyJWS, "decode", recording_decode)
    return tokens_seen


def test_an_access_token_is_verified_once(clock: FixedClock, verified: list[str]) -> None:
    issuer = make_issuer(clock)
    token = craft(clock)

    first, second = issuer.read_access_token(token), issuer.read_access_token(token)

    assert first == second == AccessClaims(user_id=42, session_id="session-abc")
    assert verified == [token]


def test_a_remembered_token_expires_with_the_same_leeway(
    clock: FixedClock, verified: list[str]
) -> None:
    issuer = make_issuer(clock)
    expires_at = clock.now() + timedelta(seconds=60)
    token = craft(clock, exp=int(expires_at.timestamp()))
    issuer.read_access_token(token)

    clock.current = expires_at + timedelta(seconds=LEEWAY_SECONDS - 0.5)
    assert issuer.read_access_token(token) == AccessClaims(user_id=42, session_id="session-abc")
    clock.current = expires_at + timedelta(seconds=LEEWAY_SECONDS)
    assert refusal(issuer, token) == "Token expired"
    assert verified == [token]


def test_an_expired_token_is_forgotten(clock: FixedClock, verified: list[str]) -> None:
    issuer = make_issuer(clock)
    token = craft(clock)
    issuer.read_access_token(token)
    clock.advance(timedelta(hours=1))

    refusals = [refusal(issuer, token), refusal(issuer, token)]

    assert refusals == ["Token expired"] * 2
    assert verified == [token, token]


def test_a_refused_token_is_verified_again_every_time(
    clock: FixedClock, verified: list[str]
) -> None:
    issuer = make_issuer(clock)
    token = craft(clock, sub="not-a-user-id")

    refusals = [refusal(issuer, token), refusal(issuer, token)]

    assert refusals == ["Invalid token"] * 2
    assert verified == [token, token]


def test_an_altered_copy_of_a_remembered_token_is_refused(clock: FixedClock) -> None:
    issuer = make_issuer(clock)
    token = craft(clock)
    issuer.read_access_token(token)
    header, _, signature = token.split(".")
    other_user = craft(clock, sub="1").split(".")[1]

    altered = [f"{header}.{other_user}.{signature}", token[:-4], token + "A"]

    assert [refusal(issuer, copy) for copy in altered] == ["Invalid token"] * 3
    assert issuer.read_access_token(token).user_id == 42


def test_the_least_recently_used_token_is_forgotten_first(
    clock: FixedClock, verified: list[str]
) -> None:
    issuer = make_issuer(clock, access_cache_size=2)
    first, second, third = (craft(clock, jti=f"token-{number}") for number in range(3))
    for token in (first, second, first, third):
        issuer.read_access_token(token)

    for token in (first, third, second):
        issuer.read_access_token(token)

    assert verified == [first, second, third, second]


def test_refresh_tokens_are_verified_every_time(clock: FixedClock, verified: list[str]) -> None:
    issuer = make_issuer(clock)
    token = craft(clock, "refresh")

    for _ in range(2):
        issuer.read_refresh_token(token)

    assert verified == [token, token]
