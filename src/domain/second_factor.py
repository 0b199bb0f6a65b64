"""The second factor: a TOTP authenticator, its recovery codes, and the login attempts waiting
for a code."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

RECOVERY_CODE_COUNT: Final = 10
MFA_CHALLENGE_TTL: Final = timedelta(minutes=5)
"""How long a login whose password was right waits for its second factor."""
TOTP_CODE_PATTERN: Final = re.compile(r"[0-9]{6}")
CODE_MAX_LENGTH: Final = 64
"""Longer than any code of ours, with room for spaces and dashes a user may type."""

_RECOVERY_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base32, lower-cased: no i, l, o or u to misread."""
_RECOVERY_CODE_CHARACTERS: Final = 16
"""80 random bits (5 a character): too many to guess, even offline against a leaked table."""


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODE_COUNT random codes, shown as `xxxx-xxxx-xxxx-xxxx`."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CODE_CHARACTERS))
        codes.append("-".join(raw[start : start + 4] for start in range(0, len(raw), 4)))
    return codes


def normalized_code(code: str) -> str:
    """A code as typed, without the spaces and dashes that group it, in lower case."""
    return re.sub(r"[\s-]", "", code).lower()


def is_totp_code(code: str) -> bool:
    """Whether a normalized code is shaped as a TOTP code rather than a recovery code."""
    return TOTP_CODE_PATTERN.fullmatch(code) is not None


def recovery_code_digest(code: str) -> str:
    """SHA-256 of a normalized recovery code: what the database keeps. A plain fast hash is
    enough, unlike for passwords: a code is 80 random bits, not something a person chose, so a
    leaked digest cannot be reversed by guessing, however fast each guess is."""
    return hashlib.sha256(normalized_code(code).encode()).hexdigest()


def password_hash_digest(password_hash: str) -> str:
    """SHA-256 of a stored password hash: binds a login attempt to the password it verified
    without keeping a second copy of the hash."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


@dataclass(slots=True, kw_only=True)
class TotpFactor:
    """A user's authenticator. Secrets are held sealed (encrypted); only the use cases open
    them, through the SecretBox port."""

    user_id: int
    secret: str | None
    """The sealed secret of the authenticator in use; None until setup is confirmed."""
    pending_secret: str | None
    """The sealed secret of a setup not yet confirmed by a code."""
    enabled_at: datetime | None
    last_step: int | None
    """The last time step a code was accepted for: a code for it or an earlier one is a
    replay."""

    @property
    def enabled(self) -> bool:
        return self.enabled_at is not None and self.secret is not None

    def fresh(self, step: int) -> bool:
        """Whether a code of `step` may be accepted: later than the last one accepted."""
        return self.last_step is None or step > self.last_step


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaChallenge:
    """A login whose password was right, waiting for the second factor. Used once."""

    id: str
    user_id: int
    password_digest: str
    """`password_hash_digest` of the hash the password was verified against: a password
    changed meanwhile voids the attempt."""
    expires_at: datetime

    @classmethod
    def start(cls, *, user_id: int, password_hash: str, expires_at: datetime) -> "MfaChallenge":
        return cls(
            id=secrets.token_urlsafe(24),
            user_id=user_id,
            password_digest=password_hash_digest(password_hash),
            expires_at=expires_at,
        )
