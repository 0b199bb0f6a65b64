"""Tokens of a login waiting for its second factor: HS256 JWTs of their own type and key."""

import hashlib
import hmac
import re
from datetime import datetime
from typing import Final

import jwt

from application.ports import MfaClaims, MfaTokens
from domain.errors import NotAuthenticated
from domain.second_factor import MfaChallenge

_ALGORITHM: Final = "HS256"
_TYPE: Final = "mfa"
_CLAIMS: Final = ("sub", "jti", "typ", "iat", "exp", "iss", "aud")
_KEY_LABEL: Final = b"authsvc mfa token"
_USER_ID_PATTERN: Final = re.compile(r"[1-9][0-9]{0,9}")


class JwtMfaTokens(MfaTokens):
    """- signed with a key derived from `secret` for this use alone (HMAC-SHA256 of a fixed
      label), so an mfa token never passes for an access, refresh or device token, nor the
      reverse; `typ: mfa` is checked as well;
    - `jti` names the login attempt (the challenge), which is stored and used once: the token
      alone completes nothing;
    - issuer, audience and every claim are required, the algorithm is pinned, expiry is
      checked against the `now` given (the Clock port's)."""

    def __init__(self, *, secret: str, issuer: str, audience: str) -> None:
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._issuer = issuer
        self._audience = audience

    def issue(self, challenge: MfaChallenge, *, now: datetime) -> str:
        claims = {
            "sub": str(challenge.user_id),
            "jti": challenge.id,
            "typ": _TYPE,
            "iat": int(now.timestamp()),
            "exp": int(challenge.expires_at.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def read(self, token: str, now: datetime) -> MfaClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": list(_CLAIMS), "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            raise NotAuthenticated("Invalid mfaToken") from None
        if (
            claims["typ"] != _TYPE
            or not isinstance(claims["sub"], str)
            or not _USER_ID_PATTERN.fullmatch(claims["sub"])
            or not isinstance(claims["jti"], str)
            or not claims["jti"]
            or type(claims["exp"]) is not int
        ):
            raise NotAuthenticated("Invalid mfaToken")
        if claims["exp"] <= now.timestamp():
            raise NotAuthenticated("mfaToken expired; log in again")
        return MfaClaims(user_id=int(claims["sub"]), challenge_id=claims["jti"])
