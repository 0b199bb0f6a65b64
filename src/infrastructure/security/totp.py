"""RFC 6238 TOTP codes with pyotp, and their QR codes as SVG with segno."""

import io
from datetime import datetime
from typing import Final

import pyotp
import segno

from application.ports import QrCodes, TotpVerifier

_SECRET_BYTES: Final = 20
"""160 bits, the length RFC 4226 recommends for HMAC-SHA-1."""
_DRIFT_STEPS: Final = 1


class PyotpTotp(TotpVerifier):
    """SHA-1, 6 digits, 30-second steps: what every authenticator app takes by default."""

    def __init__(self, *, issuer: str) -> None:
        self._issuer = issuer

    def new_secret(self) -> str:
        return pyotp.random_base32(length=_SECRET_BYTES * 8 // 5)

    def verify(self, secret: str, code: str, now: datetime) -> int | None:
        totp = pyotp.TOTP(secret)
        step = totp.timecode(now)
        # The latest step first: of a code that two steps share, the later one is recorded.
        for candidate in range(step + _DRIFT_STEPS, step - _DRIFT_STEPS - 1, -1):
            if pyotp.utils.strings_equal(code, totp.generate_otp(candidate)):
                return candidate
        return None

    def provisioning_uri(self, secret: str, *, account: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=self._issuer)


class SegnoQrCodes(QrCodes):
    def svg(self, text: str) -> str:
        """A whole SVG document without an XML declaration: it goes into a page's markup as
        is, or into an `<img>` as a data URI."""
        buffer = io.BytesIO()
        segno.make(text, error="m").save(buffer, kind="svg", xmldecl=False, scale=4)
        return buffer.getvalue().decode()
