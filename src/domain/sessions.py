"""Login sessions: one per login, with an opaque id and only a digest of its refresh token."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

USER_AGENT_MAX_LENGTH: Final = 255
IP_MAX_LENGTH: Final = 45
"""An IPv6 address with an embedded IPv4 one, the longest textual form."""
AMR_PASSWORD: Final = "pwd"
AMR_PASSWORD_AND_OTP: Final = "pwd,otp"
"""How a session was established (RFC 8176 method names): a password, or a password and then
a one-time code."""
AMR_MAX_LENGTH: Final = 32


def refresh_token_digest(token: str) -> str:
    """SHA-256 of a refresh token: what the database keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


class RefreshVerdict(Enum):
    CURRENT = "current"
    """The session's current token: rotate it."""
    RECENTLY_ROTATED = "recently_rotated"
    """The token rotated away last, inside the grace window: refuse, revoke nothing."""
    REUSED = "reused"
    """Any other token of this session: a replay, the session must end."""


@dataclass(slots=True, kw_only=True)
class Session:
    id: str
    user_id: int
    refresh_token_hash: str
    previous_token_hash: str | None = None
    rotated_at: datetime | None = None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    user_agent: str | None = None
    ip: str | None = None
    amr: str = AMR_PASSWORD

    @classmethod
    def start(
        cls,
        *,
        session_id: str,
        user_id: int,
        refresh_token: str,
        now: datetime,
        max_lifetime: timedelta,
        user_agent: str | None,
        ip: str | None,
        amr: str = AMR_PASSWORD,
    ) -> "Session":
        return cls(
            id=session_id,
            user_id=user_id,
            refresh_token_hash=refresh_token_digest(refresh_token),
            created_at=now,
            last_used_at=now,
            expires_at=now + max_lifetime,
            # Client-supplied and only informative: cut to fit rather than refuse the login.
            user_agent=user_agent[:USER_AGENT_MAX_LENGTH] if user_agent else None,
            ip=ip[:IP_MAX_LENGTH] if ip else None,
            amr=amr,
        )

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def judge_refresh(self, token: str, now: datetime, grace: timedelta) -> RefreshVerdict:
        digest = refresh_token_digest(token)
        if secrets.compare_digest(digest, self.refresh_token_hash):
            return RefreshVerdict.CURRENT
        if (
            self.previous_token_hash is not None
            and self.rotated_at is not None
            and secrets.compare_digest(digest, self.previous_token_hash)
            and now - self.rotated_at <= grace
        ):
            return RefreshVerdict.RECENTLY_ROTATED
        return RefreshVerdict.REUSED

    def rotate(self, new_token_hash: str, now: datetime) -> None:
        """`new_token_hash` (a `refresh_token_digest`) replaces the current token's."""
        self.previous_token_hash = self.refresh_token_hash
        self.refresh_token_hash = new_token_hash
        self.rotated_at = now
        self.last_used_at = now
