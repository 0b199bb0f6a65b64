"""Mail written to a directory, one `.eml` file per message: the embedded default, so that a
reset can be followed on a machine with no mail server (any mail client opens the files)."""

import asyncio
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from application.ports import EmailMessage
from domain.errors import MailNotSent
from infrastructure.mail.message import mime_message
from infrastructure.private_files import make_private_directory

logger = logging.getLogger("authsvc.mail")


class DirectoryMailer:
    """The directory is 0700 and each file 0600: messages carry single-use tokens."""

    def __init__(self, directory: Path, *, sender: str) -> None:
        self._directory = directory
        self._sender = sender

    async def send(self, message: EmailMessage) -> None:
        content = mime_message(message, sender=self._sender).as_bytes()
        try:
            path = await asyncio.to_thread(self._write, content)
        except OSError as error:
            logger.warning("mail directory %s cannot be written: %s", self._directory, error)
            raise MailNotSent from error
        # Where it went, never what it says: the body holds the token.
        logger.info("mail written to %s", path)

    def _write(self, content: bytes) -> Path:
        make_private_directory(self._directory)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self._directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        draft = path.with_name(f".{path.name}.draft")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        # Published whole: a reader watching the directory never sees half a message.
        draft.rename(path)
        return path
