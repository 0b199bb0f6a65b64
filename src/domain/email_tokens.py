"""Single-use tokens sent by email: a password reset, an address to verify, a new address to
confirm. The mail carries the token; the database keeps only its SHA-256."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from domain.users import Email


class EmailTokenPurpose(Enum):
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFICATION = "email_verification"
    EMAIL_CHANGE = "email_change"


def email_token_digest(token: str) -> str:
    """SHA-256 of a token: what the database keeps, so a copy of it opens no account."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailToken:
    digest: str
    purpose: EmailTokenPurpose
    user_id: int
    email: Email
    """The address the token was sent to: the one it verifies, or the new one it confirms."""
    created_at: datetime
    expires_at: datetime

    @classmethod
    def issue(
        cls,
        *,
        purpose: EmailTokenPurpose,
        user_id: int,
        email: Email,
        now: datetime,
        ttl: timedelta,
    ) -> tuple[str, "EmailToken"]:
        """A new token (32 random bytes, base64url) for the mail, and what is stored of it."""
        token = secrets.token_urlsafe(32)
        stored = cls(
            digest=email_token_digest(token),
            purpose=purpose,
            user_id=user_id,
            email=email,
            created_at=now,
            expires_at=now + ttl,
        )
        return token, stored
