"""Device tokens (OWASP's device cookies) as HS256 JWTs of their own type and key."""

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Final

import jwt

from application.ports import DeviceClaims, DeviceTokens
from domain.users import User

_ALGORITHM: Final = "HS256"
_TYPE: Final = "device"
_CLAIMS: Final = ("sub", "email", "did", "typ", "iat", "exp", "iss", "aud")
_KEY_LABEL: Final = b"authsvc device token"
_USER_ID_PATTERN: Final = re.compile(r"[1-9][0-9]{0,9}")


class JwtDeviceTokens(DeviceTokens):
    """- signed with a key derived from `secret` for this use alone (HMAC-SHA256 of a fixed
      label), so a device token can never pass for an access token or the reverse, and no
      further secret needs configuring;
    - `typ: device`, issuer and audience are checked, the algorithm is pinned;
    - expiry is checked against the `now` given (the Clock port's)."""

    def __init__(self, *, secret: str, ttl: timedelta, issuer: str, audience: str) -> None:
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._ttl = int(ttl.total_seconds())
        self._issuer = issuer
        self._audience = audience

    def issue(self, *, user: User, now: datetime) -> str:
        issued_at = int(now.timestamp())
        claims = {
            "sub": str(user.id),
            "email": user.email.value,
            "did": secrets.token_urlsafe(16),
            "typ": _TYPE,
            "iat": issued_at,
            "exp": issued_at + self._ttl,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def read(self, token: str, now: datetime) -> DeviceClaims | None:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                # Expiry is compared with `now` below, so that it follows the Clock port.
                options={"require": list(_CLAIMS), "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            return None
        fields = (claims["sub"], claims["email"], claims["did"], claims["exp"])
        if (
            claims["typ"] != _TYPE
            or not all(isinstance(field, str) for field in fields[:3])
            or not isinstance(claims["exp"], int)
            or claims["exp"] <= now.timestamp()
            or not _USER_ID_PATTERN.fullmatch(claims["sub"])
        ):
            return None
        return DeviceClaims(
            user_id=int(claims["sub"]), email=claims["email"], device_id=claims["did"]
        )
