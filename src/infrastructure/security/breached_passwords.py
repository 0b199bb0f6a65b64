"""Checking new passwords against Pwned Passwords' k-anonymity range API, or not at all.

The range API (`GET {PWNED_PASSWORDS_URL}/{first five hex digits of the SHA-1}`) answers every
hash suffix it knows under that prefix, one `SUFFIX:COUNT` a line; the password and its full
hash never leave the service. The request asks for padding (`Add-Padding: true`), so that the
size of the answer does not tell an observer which prefix was asked for; padding lines have a
count of 0 and are skipped.
"""

import asyncio
import hashlib
import logging
from typing import Final

import httpx

from application.ports import PasswordBreachCheck
from domain.users import Password

logger = logging.getLogger("authsvc.breached_passwords")

RANGE_TIMEOUT_SECONDS: Final = 2.0
"""The longest a registration or password change waits on the range service, whole answer
included, before it goes on without the check."""


class NoBreachCheck(PasswordBreachCheck):
    """No range service configured: no password counts as breached."""

    async def is_breached(self, password: Password) -> bool:
        return False


class PwnedPasswordsCheck(PasswordBreachCheck):
    """Asks the range API at `base_url`; fails open (False, and a warning in the log) when
    the service times out, cannot be reached or answers anything but 200."""

    def __init__(self, base_url: str, *, timeout_seconds: float = RANGE_TIMEOUT_SECONDS) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout_seconds = timeout_seconds
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, headers={"User-Agent": "authsvc", "Add-Padding": "true"}
        )

    async def is_breached(self, password: Password) -> bool:
        digest = hashlib.sha1(password.value.encode(), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        try:
            # httpx's timeout bounds each read; this bounds a slowly dripping answer too.
            async with asyncio.timeout(self._timeout_seconds):
                response = await self._client.get(f"{self._base_url}/{prefix}")
                response.raise_for_status()
        except (httpx.HTTPError, TimeoutError) as error:
            # The URL is left out: its prefix narrows down the password.
            reason = (
                f"answered {error.response.status_code}"
                if isinstance(error, httpx.HTTPStatusError)
                else type(error).__name__
            )
            logger.warning(
                "breached-password check unavailable (%s); password accepted unchecked", reason
            )
            return False
        for line in response.text.splitlines():
            found_suffix, _, count = line.partition(":")
            if found_suffix.strip().upper() == suffix and count.strip() != "0":
                return True
        return False

    async def aclose(self) -> None:
        await self._client.aclose()
