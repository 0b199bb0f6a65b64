"""The TokenIssuer contract: what it issues reads back until it expires, and every other token
is refused. The first tests hold for every issuer, the test fake included; the rest attack the
JWTs of the real one."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from application.ports import AccessClaims, RefreshClaims, TokenIssuer, TokenPair
from domain.errors import NotAuthenticated
from domain.users import Email
from infrastructure.security.tokens import JwtTokenIssuer
from tests.fakes import FakeTokenIssuer, FixedClock

ACCESS_SECRET = "access-secret-for-tests-" + "0123456789abcdef" * 3
REFRESH_SECRET = "refresh-secret-for-tests-" + "0123456789abcdef" * 3
ISSUER = "authsvc"
AUDIENCE = "authsvc-clients"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
SESSION_ID = "session-abc"
ACCESS_CLAIMS = ("sub", "email", "sid", "typ", "iat", "exp", "jti", "iss", "aud")
REFRESH_CLAIMS = ("sub", "email", "sid", "sxp", "typ", "iat", "exp", "jti", "iss", "aud")
NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
"""Where the issuer's clock stands unless a test moves it."""


def make_issuer(
    clock: FixedClock,
    *,
    access_secret: str = ACCESS_SECRET,
    refresh_secret: str = REFRESH_SECRET,
) -> JwtTokenIssuer:
    return JwtTokenIssuer(
        access_secret=access_secret,
        refresh_secret=refresh_secret,
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def issuer(clock: FixedClock) -> JwtTokenIssuer:
    return make_issuer(clock)


ISSUERS: dict[str, Callable[[FixedClock], TokenIssuer]] = {
    "jwt": make_issuer,
    "fake": lambda clock: FakeTokenIssuer(
        clock,
        access_ttl=int(ACCESS_TTL.total_seconds()),
        refresh_ttl=int(REFRESH_TTL.total_seconds()),
    ),
}


@pytest.fixture(params=ISSUERS)
def any_issuer(request: pytest.FixtureRequest, clock: FixedClock) -> TokenIssuer:
    """Each issuer the tests run with: the service's, and the fake of the unit tests."""
    return ISSUERS[request.param](clock)


def issue(
    issuer: TokenIssuer,
    now: datetime = NOW,
    session_lifetime: timedelta = REFRESH_TTL * 2,
) -> TokenPair:
    return issuer.issue(
        user_id=42,
        email=Email("ada@example.com"),
        session_id=SESSION_ID,
        now=now,
        session_expires_at=now + session_lifetime,
    )


def valid_claims(token_type: str) -> dict[str, Any]:
    issued_at = int(NOW.timestamp())
    claims: dict[str, Any] = {
        "sub": "42",
        "sid": SESSION_ID,
        "typ": token_type,
        "iat": issued_at,
        "exp": issued_at + 600,
        "jti": "a-unique-id",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims["email"] = "ada@example.com"
    if token_type == "refresh":
        claims["sxp"] = issued_at + 3600
    return claims


def craft(
    token_type: str,
    *,
    secret: str | None = None,
    algorithm: str = "HS256",
    without: str | None = None,
    **overrides: Any,
) -> str:
    """A token like the issuer's, changed in one way."""
    claims = {**valid_claims(token_type), **overrides}
    if without:
        del claims[without]
    default_secret = ACCESS_SECRET if token_type == "access" else REFRESH_SECRET
    return jwt.encode(claims, secret or default_secret, algorithm=algorithm)


def decode(token: str, secret: str) -> dict[str, Any]:
    """The claims of a token, its signature verified by PyJWT; its times are not checked, as
    PyJWT checks them against the real time, not against the test's clock."""
    return jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )


Reader = Callable[[TokenIssuer, str], object]
READERS: dict[str, Reader] = {
    "access": lambda issuer, token: issuer.read_access_token(token),
    "refresh": lambda issuer, token: issuer.read_refresh_token(token),
}


@pytest.fixture(params=["access", "refresh"])
def token_type(request: pytest.FixtureRequest) -> str:
    return request.param


def assert_refused(issuer: TokenIssuer, token_type: str, token: str) -> None:
    with pytest.raises(NotAuthenticated) as refusal:
        READERS[token_type](issuer, token)
    if token:
        assert token not in refusal.value.message


def test_issued_tokens_read_back(any_issuer: TokenIssuer) -> None:
    tokens = issue(any_issuer)

    assert any_issuer.read_access_token(tokens.access_token) == AccessClaims(
        user_id=42, session_id=SESSION_ID
    )
    assert any_issuer.read_refresh_token(tokens.refresh_token) == RefreshClaims(
        user_id=42,
        session_id=SESSION_ID,
        email=Email("ada@example.com"),
        session_expires_at=NOW + REFRESH_TTL * 2,
    )


def test_a_refresh_token_carries_its_sessions_end_in_whole_seconds(
    any_issuer: TokenIssuer,
) -> None:
    tokens = issue(any_issuer, session_lifetime=timedelta(hours=1, microseconds=999_999))

    claims = any_issuer.read_refresh_token(tokens.refresh_token)

    assert claims.session_expires_at == NOW + timedelta(hours=1)


def test_expiries_are_whole_seconds_from_now(any_issuer: TokenIssuer) -> None:
    tokens = issue(any_issuer, NOW + timedelta(microseconds=500_000))

    assert tokens.access_expires_in == 900
    assert tokens.refresh_expires_in == int(REFRESH_TTL.total_seconds())


def test_a_refresh_token_never_outlives_its_session(any_issuer: TokenIssuer) -> None:
    tokens = issue(any_issuer, session_lifetime=timedelta(hours=1))

    assert tokens.refresh_expires_in == 3600
    assert tokens.access_expires_in == 900


def test_two_tokens_issued_in_the_same_second_differ(any_issuer: TokenIssuer) -> None:
    first, second = issue(any_issuer), issue(any_issuer)

    assert first.access_token != second.access_token
    assert first.refresh_token != second.refresh_token


def test_an_access_token_is_not_a_refresh_token_nor_the_reverse(any_issuer: TokenIssuer) -> None:
    tokens = issue(any_issuer)

    assert_refused(any_issuer, "refresh", tokens.access_token)
    assert_refused(any_issuer, "access", tokens.refresh_token)


def test_each_token_expires_on_the_clock(any_issuer: TokenIssuer, clock: FixedClock) -> None:
    tokens = issue(any_issuer)

    clock.advance(ACCESS_TTL + timedelta(minutes=1))
    assert_refused(any_issuer, "access", tokens.access_token)
    assert any_issuer.read_refresh_token(tokens.refresh_token) is not None
    clock.advance(REFRESH_TTL)
    assert_refused(any_issuer, "refresh", tokens.refresh_token)


def test_a_token_issued_long_ago_is_refused(any_issuer: TokenIssuer) -> None:
    tokens = issue(any_issuer, NOW - REFRESH_TTL - timedelta(minutes=1))

    assert_refused(any_issuer, "access", tokens.access_token)
    assert_refused(any_issuer, "refresh", tokens.refresh_token)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30.", "Bearer x.y.z", "\x00\xff"],
)
def test_garbage_is_refused(any_issuer: TokenIssuer, token_type: str, token: str) -> None:
    assert_refused(any_issuer, token_type, token)


# The service's JWTs.


def test_issued_tokens_carry_every_claim(issuer: JwtTokenIssuer) -> None:
    now = NOW
    tokens = issue(issuer, now)

    access = decode(tokens.access_token, ACCESS_SECRET)
    refresh = decode(tokens.refresh_token, REFRESH_SECRET)

    issued_at = int(now.timestamp())
    assert sorted(access) == sorted(ACCESS_CLAIMS)
    assert sorted(refresh) == sorted(REFRESH_CLAIMS)
    assert access | {"jti": None} == {
        "sub": "42",
        "email": "ada@example.com",
        "sid": SESSION_ID,
        "typ": "access",
        "iat": issued_at,
        "exp": issued_at + 900,
        "jti": None,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    assert refresh | {"jti": None} == {
        "sub": "42",
        "email": "ada@example.com",
        "sid": SESSION_ID,
        "sxp": issued_at + int(REFRESH_TTL.total_seconds()) * 2,
        "typ": "refresh",
        "iat": issued_at,
        "exp": issued_at + int(REFRESH_TTL.total_seconds()),
        "jti": None,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    assert jwt.get_unverified_header(tokens.access_token)["alg"] == "HS256"


def test_a_refresh_tokens_expiry_claim_is_its_sessions_end(issuer: JwtTokenIssuer) -> None:
    tokens = issue(issuer, session_lifetime=timedelta(hours=1))

    refresh = decode(tokens.refresh_token, REFRESH_SECRET)
    assert refresh["exp"] == int(NOW.timestamp()) + 3600


def test_the_token_type_is_checked_even_when_both_secrets_match(clock: FixedClock) -> None:
    issuer = make_issuer(clock, access_secret=ACCESS_SECRET, refresh_secret=ACCESS_SECRET)
    tokens = issue(issuer)

    assert_refused(issuer, "refresh", tokens.access_token)
    assert_refused(issuer, "access", tokens.refresh_token)


@pytest.mark.parametrize("typ", ["id", "", "ACCESS", None, 1])
def test_a_wrong_token_type_is_refused(
    issuer: JwtTokenIssuer, token_type: str, typ: object
) -> None:
    assert_refused(issuer, token_type, craft(token_type, typ=typ))


def test_a_crafted_valid_token_is_accepted(issuer: JwtTokenIssuer, token_type: str) -> None:
    """The baseline for the refusals below: each of them changes one thing."""
    assert READERS[token_type](issuer, craft(token_type)) is not None


def test_an_unsigned_token_is_refused(issuer: JwtTokenIssuer, token_type: str) -> None:
    unsigned = jwt.encode(valid_claims(token_type), None, algorithm="none")

    assert_refused(issuer, token_type, unsigned)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_another_algorithm_is_refused(
    issuer: JwtTokenIssuer, token_type: str, algorithm: str
) -> None:
    assert_refused(issuer, token_type, craft(token_type, algorithm=algorithm))


def test_a_token_signed_with_another_key_is_refused(
    issuer: JwtTokenIssuer, token_type: str
) -> None:
    token = craft(token_type, secret="another-secret-" + "0123456789abcdef" * 4)

    assert_refused(issuer, token_type, token)


@pytest.mark.parametrize("claim", ACCESS_CLAIMS)
def test_an_access_token_missing_a_claim_is_refused(issuer: JwtTokenIssuer, claim: str) -> None:
    assert_refused(issuer, "access", craft("access", without=claim))


@pytest.mark.parametrize("claim", REFRESH_CLAIMS)
def test_a_refresh_token_missing_a_claim_is_refused(issuer: JwtTokenIssuer, claim: str) -> None:
    assert_refused(issuer, "refresh", craft("refresh", without=claim))


def test_a_refresh_token_of_the_shape_before_sxp_and_email_is_refused(
    issuer: JwtTokenIssuer,
) -> None:
    """Tokens issued before refresh tokens carried them: their holders log in again."""
    assert_refused(issuer, "refresh", craft("refresh", without="sxp", email=None))


@pytest.mark.parametrize("sxp", ["x", 1.5e9, True, None, int(NOW.timestamp()) + 599])
def test_a_refresh_token_whose_session_end_is_not_a_time_after_its_expiry_is_refused(
    issuer: JwtTokenIssuer, sxp: object
) -> None:
    assert_refused(issuer, "refresh", craft("refresh", sxp=sxp))


@pytest.mark.parametrize("email", ["", "ada", "Ada@Example.com", 7, ["ada@example.com"]])
def test_a_refresh_token_whose_email_is_not_one_is_refused(
    issuer: JwtTokenIssuer, email: object
) -> None:
    assert_refused(issuer, "refresh", craft("refresh", email=email))


def test_a_token_expired_within_the_leeway_is_accepted(
    issuer: JwtTokenIssuer, token_type: str
) -> None:
    just_expired = int(NOW.timestamp()) - 5

    assert READERS[token_type](issuer, craft(token_type, exp=just_expired)) is not None


def test_a_token_issued_in_the_future_is_refused(issuer: JwtTokenIssuer, token_type: str) -> None:
    in_an_hour = int(NOW.timestamp()) + 3600

    assert_refused(issuer, token_type, craft(token_type, iat=in_an_hour, exp=in_an_hour + 600))


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "someone-else"},
        {"aud": "another-service"},
        {"aud": [AUDIENCE, "another-service"]},
    ],
    ids=["issuer", "audience", "audience-list"],
)
def test_a_token_for_another_issuer_or_audience_is_refused(
    issuer: JwtTokenIssuer, token_type: str, claims: dict[str, Any]
) -> None:
    assert_refused(issuer, token_type, craft(token_type, **claims))


@pytest.mark.parametrize("sub", ["abc", "", "0", "-1", "01", "1.5", " 42", "٤٢", "9" * 30, 42])
def test_a_subject_that_is_not_a_user_id_is_refused(
    issuer: JwtTokenIssuer, token_type: str, sub: object
) -> None:
    assert_refused(issuer, token_type, craft(token_type, sub=sub))


@pytest.mark.parametrize("sid", ["", 7, None, ["a"]])
def test_a_session_id_that_is_not_a_non_empty_string_is_refused(
    issuer: JwtTokenIssuer, token_type: str, sid: object
) -> None:
    assert_refused(issuer, token_type, craft(token_type, sid=sid))


def test_a_tampered_token_is_refused(issuer: JwtTokenIssuer, token_type: str) -> None:
    token = craft(token_type)
    header, payload, signature = token.split(".")
    other_user = craft(token_type, sub="1").split(".")[1]

    assert_refused(issuer, token_type, f"{header}.{other_user}.{signature}")
    assert_refused(issuer, token_type, f"{header}.{payload}.{signature[:-4]}")
