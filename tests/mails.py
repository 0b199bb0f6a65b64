"""Reading the token out of a mail as a person (or the README's one-liner) would: the line that
holds nothing but a token."""

import re

from application.ports import EmailMessage

TOKEN_LINE = re.compile(r"^[A-Za-z0-9_-]{43}$", re.MULTILINE)
"""32 random bytes in base64url, alone on a line."""


def token_in(message: EmailMessage) -> str:
    tokens = TOKEN_LINE.findall(message.text)
    assert len(tokens) == 1, f"expected one token line in {message.subject!r}: {tokens}"
    token: str = tokens[0]
    if message.html is not None:
        assert token in message.html, "the HTML part carries another token"
    return token


def has_no_token(message: EmailMessage) -> bool:
    return not TOKEN_LINE.search(message.text) and "token=" not in message.text
