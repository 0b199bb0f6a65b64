"""The TokenIssuer contract: what it issues reads back, and every other token is refused."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from application.ports import AccessClaims, RefreshClaims, TokenPair
from domain.errors import NotAuthenticated
from domain.users import Email, PasswordHash, User
from infrastructure.security.tokens import JwtTokenIssuer

ACCESS_SECRET = "access-secret-for-tests-" + "0123456789abcdef" * 3
REFRESH_SECRET = "refresh-secret-for-tests-" + "0123456789abcdef" * 3
ISSUER = "authsvc"
AUDIENCE = "authsvc-clients"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
SESSION_ID = "session-abc"
ACCESS_CLAIMS = ("sub", "email", "sid", "typ", "iat", "exp", "jti", "iss", "aud")
REFRESH_CLAIMS = ("sub", "sid", "typ", "iat", "exp", "jti", "iss", "aud")


def make_issuer(
    *, access_secret: str = ACCESS_SECRET, refresh_secret: str = REFRESH_SECRET
) -> JwtTokenIssuer:
    return JwtTokenIssuer(
        access_secret=access_secret,
        refresh_secret=refresh_secret,
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        issuer=ISSUER,
        audience=AUDIENCE,
    )


def make_user(user_id: int = 42) -> User:
    return User(
        id=user_id,
        name="Ada",
        email=Email("ada@example.com"),
        password_hash=PasswordHash("$2b$04$" + "." * 53),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def real_now() -> datetime:
    """Decoding checks expiry against real time, so tokens meant to be valid are issued now."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def issuer() -> JwtTokenIssuer:
    return make_issuer()


def issue(
    issuer: JwtTokenIssuer,
    now: datetime | None = None,
    session_lifetime: timedelta = REFRESH_TTL * 2,
) -> TokenPair:
    now = now or real_now()
    return issuer.issue(
        user=make_user(), session_id=SESSION_ID, now=now, session_expires_at=now + session_lifetime
    )


def valid_claims(token_type: str) -> dict[str, Any]:
    issued_at = int(real_now().timestamp())
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
    if token_type == "access":
        claims["email"] = "ada@example.com"
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


Reader = Callable[[JwtTokenIssuer, str], object]
READERS: dict[str, Reader] = {
    "access": JwtTokenIssuer.read_access_token,
    "refresh": JwtTokenIssuer.read_refresh_token,
}


@pytest.fixture(params=["access", "refresh"])
def token_type(request: pytest.FixtureRequest) -> str:
    return request.param


def assert_refused(issuer: JwtTokenIssuer, token_type: str, token: str) -> None:
    with pytest.raises(NotAuthenticated) as refusal:
        READERS[token_type](issuer, token)
    if token:
        assert token not in refusal.value.message


def test_issued_tokens_read_back(issuer: JwtTokenIssuer) -> None:
    tokens = issue(issuer)

    assert issuer.read_access_token(tokens.access_token) == AccessClaims(
        user_id=42, session_id=SESSION_ID
    )
    assert issuer.read_refresh_token(tokens.refresh_token) == RefreshClaims(
        user_id=42, session_id=SESSION_ID
    )


def test_issued_tokens_carry_every_claim(issuer: JwtTokenIssuer) -> None:
    now = real_now()
    tokens = issue(issuer, now)

    access = jwt.decode(tokens.access_token, ACCESS_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    refresh = jwt.decode(
        tokens.refresh_token, REFRESH_SECRET, algorithms=["HS256"], audience=AUDIENCE
    )

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
        "sid": SESSION_ID,
        "typ": "refresh",
        "iat": issued_at,
        "exp": issued_at + int(REFRESH_TTL.total_seconds()),
        "jti": None,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    assert jwt.get_unverified_header(tokens.access_token)["alg"] == "HS256"


def test_expiries_are_whole_seconds_from_now(issuer: JwtTokenIssuer) -> None:
    tokens = issue(issuer, datetime.now(UTC))

    assert tokens.access_expires_in == 900
    assert tokens.refresh_expires_in == int(REFRESH_TTL.total_seconds())


def test_a_refresh_token_never_outlives_its_session(issuer: JwtTokenIssuer) -> None:
    now = real_now()
    tokens = issue(issuer, now, session_lifetime=timedelta(hours=1))

    refresh = jwt.decode(
        tokens.refresh_token, REFRESH_SECRET, algorithms=["HS256"], audience=AUDIENCE
    )
    assert tokens.refresh_expires_in == 3600
    assert refresh["exp"] == int(now.timestamp()) + 3600
    assert tokens.access_expires_in == 900


def test_two_tokens_issued_in_the_same_second_differ(issuer: JwtTokenIssuer) -> None:
    now = real_now()
    first, second = issue(issuer, now), issue(issuer, now)

    assert first.access_token != second.access_token
    assert first.refresh_token != second.refresh_token


def test_an_access_token_is_not_a_refresh_token_nor_the_reverse(issuer: JwtTokenIssuer) -> None:
    tokens = issue(issuer)

    assert_refused(issuer, "refresh", tokens.access_token)
    assert_refused(issuer, "access", tokens.refresh_token)


def test_the_token_type_is_checked_even_when_both_secrets_match() -> None:
    issuer = make_issuer(access_secret=ACCESS_SECRET, refresh_secret=ACCESS_SECRET)
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


def test_an_expired_token_is_refused(issuer: JwtTokenIssuer) -> None:
    long_ago = real_now() - REFRESH_TTL - timedelta(minutes=1)
    tokens = issue(issuer, long_ago)

    assert_refused(issuer, "access", tokens.access_token)
    assert_refused(issuer, "refresh", tokens.refresh_token)


def test_a_token_expired_within_the_leeway_is_accepted(
    issuer: JwtTokenIssuer, token_type: str
) -> None:
    just_expired = int(real_now().timestamp()) - 5

    assert READERS[token_type](issuer, craft(token_type, exp=just_expired)) is not None


def test_a_token_issued_in_the_future_is_refused(issuer: JwtTokenIssuer, token_type: str) -> None:
    in_an_hour = int(real_now().timestamp()) + 3600

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


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30.", "Bearer x.y.z", "\x00\xff"],
)
def test_garbage_is_refused(issuer: JwtTokenIssuer, token_type: str, token: str) -> None:
    assert_refused(issuer, token_type, token)


def test_a_tampered_token_is_refused(issuer: JwtTokenIssuer, token_type: str) -> None:
    token = craft(token_type)
    header, payload, signature = token.split(".")
    other_user = craft(token_type, sub="1").split(".")[1]

    assert_refused(issuer, token_type, f"{header}.{other_user}.{signature}")
    assert_refused(issuer, token_type, f"{header}.{payload}.{signature[:-4]}")
