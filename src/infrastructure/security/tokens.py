"""Access and refresh JWTs (HS256), each type with its own secret, every claim required."""

import json
import re
import secrets
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import jwt
from jwt.algorithms import HMACAlgorithm

from application.ports import AccessClaims, Clock, RefreshClaims, TokenIssuer, TokenPair
from domain.errors import InvalidValue, NotAuthenticated
from domain.users import Email

_ALGORITHM: Final = "HS256"
_ACCESS_CLAIMS: Final = ("sub", "email", "sid", "typ", "iat", "exp", "jti", "iss", "aud")
_REFRESH_CLAIMS: Final = (
    "sub", "email", "sid", "sxp", "typ", "iat", "exp", "jti", "iss", "aud"
)  # fmt: skip
_USER_ID_PATTERN: Final = re.compile(r"[1-9][0-9]{0,9}")
"""`sub` is a string (RFC 7519) holding a positive id; ASCII digits only, of a bounded length."""
_MAX_USER_ID: Final = 2**31 - 1
"""The largest id the `users.id INT` column can hold; anything above was never issued."""
_TIME_CLAIMS: Final = ("iat", "exp", "nbf", "sxp")
ACCESS_TOKEN_CACHE_SIZE: Final = 10_000
"""Verified access tokens kept per process. A client sends the same access token with every
request until it expires, so verifying it once spares the JWT decode on every later request.
10,000 allows for that many clients active on one worker within an access token's lifetime;
beyond that the least recently used are decoded again. An entry takes about 0.75 KB, half of
it the token itself: about 7 MB when full."""


class _PreparedHs256(HMACAlgorithm):
    """HS256 over one secret whose key is prepared once. PyJWT prepares the key again on every
    encode and decode (it checks that the secret is not a PEM, DER or JWK key, parsing it as
    each): 40% of the CPU time of issuing and reading a token pair, 287-328 us before and
    169-189 us after (`bench/token_pair.py`)."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._secret = secret
        self._prepared_secret = super().prepare_key(secret)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self._prepared_secret if key is self._secret else super().prepare_key(key)


class _Signer:
    """Signs and verifies HS256 tokens with one secret, through PyJWT's JWS layer with that
    secret's prepared key: the only algorithm it knows is HS256."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._jws = jwt.PyJWS(algorithms=[])
        self._jws.register_algorithm(_ALGORITHM, _PreparedHs256(self._secret))

    def sign(self, claims: dict[str, Any]) -> str:
        payload = json.dumps(claims, separators=(",", ":")).encode()
        return self._jws.encode(payload, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Any:
        """The token's claims, parsed, once its signature is verified; raises ValueError (or
        PyJWT's errors) for anything else."""
        return json.loads(self._jws.decode(token, self._secret, algorithms=[_ALGORITHM]))


class JwtTokenIssuer(TokenIssuer):
    """- the algorithm is pinned on decoding: `alg: none` and any other algorithm are refused;
    - `typ` and the separate secrets keep an access token from passing as a refresh token;
    - a refresh token never outlives its session's absolute lifetime, which it carries (`sxp`)
      with the user's email, so that a refresh needs neither the session nor the user read;
    - every failure is NotAuthenticated with a message that never echoes the token.
    Times are checked against `clock`, with `leeway` for clock skew between instances. PyJWT's
    claim checks read the system clock, so the claims are checked here, as PyJWT checks them;
    PyJWT verifies the signature.

    An access token that verifies is remembered (up to `access_cache_size`, least recently
    used dropped first) with its expiry, which is checked again on every read; failures are
    never remembered. Revocation is unaffected: the token's session is looked up in the
    database on every request. Envoy's jwt_authn filter does the same (`jwt_cache_config`)."""

    def __init__(
        self,
        *,
        access_secret: str,
        refresh_secret: str,
        access_ttl: timedelta,
        refresh_ttl: timedelta,
        issuer: str,
        audience: str,
        clock: Clock,
        leeway: timedelta = timedelta(seconds=10),
        access_cache_size: int = ACCESS_TOKEN_CACHE_SIZE,
    ) -> None:
        self._access_signer = _Signer(access_secret)
        self._refresh_signer = _Signer(refresh_secret)
        self._clock = clock
        self._access_ttl = int(access_ttl.total_seconds())
        self._refresh_ttl = int(refresh_ttl.total_seconds())
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._verified_access_tokens: OrderedDict[str, tuple[AccessClaims, int]] = OrderedDict()
        self._access_cache_size = access_cache_size

    def issue(
        self,
        *,
        user_id: int,
        email: Email,
        session_id: str,
        now: datetime,
        session_expires_at: datetime,
    ) -> TokenPair:
        issued_at = int(now.timestamp())
        access_expires_at = issued_at + self._access_ttl
        session_ends_at = int(session_expires_at.timestamp())
        refresh_expires_at = min(issued_at + self._refresh_ttl, session_ends_at)
        common = {
            "sub": str(user_id),
            "email": email.value,
            "sid": session_id,
            "iat": issued_at,
            "iss": self._issuer,
            "aud": self._audience,
        }
        access_token = self._access_signer.sign(
            {
                **common,
                "typ": "access",
                "exp": access_expires_at,
                "jti": secrets.token_urlsafe(16),
            }
        )
        refresh_token = self._refresh_signer.sign(
            {
                **common,
                "sxp": session_ends_at,
                "typ": "refresh",
                "exp": refresh_expires_at,
                "jti": secrets.token_urlsafe(16),
            }
        )
        return TokenPair(
            access_token=access_token,
            refresh_token=refresh_token,
            access_expires_in=access_expires_at - issued_at,
            refresh_expires_in=refresh_expires_at - issued_at,
        )

    def read_access_token(self, token: str) -> AccessClaims:
        """Only expiry can change for a token once verified (an `iat` or `nbf` in the future
        fails verification), so a remembered token has just that checked, as PyJWT checks it;
        an expired one is forgotten. Taking the entry out and putting it back keeps the most
        recently used last."""
        verified = self._verified_access_tokens.pop(token, None) or self._verify_access(token)
        claims, expires_at = verified
        if expires_at <= self._clock.now().timestamp() - self._leeway.total_seconds():
            raise NotAuthenticated("Token expired")
        self._verified_access_tokens[token] = verified
        if len(self._verified_access_tokens) > self._access_cache_size:
            self._verified_access_tokens.popitem(last=False)
        return claims

    def _verify_access(self, token: str) -> tuple[AccessClaims, int]:
        claims = self._decode(token, self._access_signer, "access", _ACCESS_CLAIMS)
        return AccessClaims(user_id=_user_id(claims), session_id=_session_id(claims)), claims["exp"]

    def read_refresh_token(self, token: str) -> RefreshClaims:
        """A token without `sxp` or `email` (issued before refresh tokens carried them) is
        refused like any token missing a claim: its holder logs in again. A session ends by
        `sxp` at the latest, so a token expiring later is no token of ours."""
        claims = self._decode(token, self._refresh_signer, "refresh", _REFRESH_CLAIMS)
        if claims["exp"] > claims["sxp"]:
            raise NotAuthenticated("Invalid token")
        return RefreshClaims(
            user_id=_user_id(claims),
            session_id=_session_id(claims),
            # Checked by _well_typed already.
            email=Email.stored(claims["email"]),
            session_expires_at=datetime.fromtimestamp(claims["sxp"], UTC),
        )

    def _decode(
        self,
        token: str,
        signer: _Signer,
        token_type: Literal["access", "refresh"],
        required: tuple[str, ...],
    ) -> dict[str, Any]:
        try:
            claims = signer.verify(token)
        except (jwt.PyJWTError, ValueError):
            raise NotAuthenticated("Invalid token") from None
        if (
            not isinstance(claims, dict)
            or any(claims.get(name) is None for name in required)
            or not _well_typed(claims)
        ):
            raise NotAuthenticated("Invalid token")
        now = self._clock.now().timestamp()
        leeway = self._leeway.total_seconds()
        if claims["iat"] > now + leeway or claims.get("nbf", now) > now + leeway:
            raise NotAuthenticated("Invalid token")
        if claims["exp"] <= now - leeway:
            raise NotAuthenticated("Token expired")
        if (
            claims["typ"] != token_type
            or claims["iss"] != self._issuer
            or claims["aud"] != self._audience
            or not isinstance(claims["jti"], str)
        ):
            raise NotAuthenticated("Invalid token")
        return claims


def _well_typed(claims: dict[str, Any]) -> bool:
    """Times are whole numbers (JSON's `true` is not 1), and the email is one."""
    times_are_integers = all(type(claims[name]) is int for name in _TIME_CLAIMS if name in claims)
    return times_are_integers and ("email" not in claims or _is_email(claims["email"]))


def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        Email(value)
    except InvalidValue:
        return False
    return True


def _user_id(claims: dict[str, Any]) -> int:
    subject = claims["sub"]
    if not isinstance(subject, str) or not _USER_ID_PATTERN.fullmatch(subject):
        raise NotAuthenticated("Invalid token")
    user_id = int(subject)
    if user_id > _MAX_USER_ID:
        raise NotAuthenticated("Invalid token")
    return user_id


def _session_id(claims: dict[str, Any]) -> str:
    session_id = claims["sid"]
    if not isinstance(session_id, str) or not session_id:
        raise NotAuthenticated("Invalid token")
    return session_id
