"""Mail through an SMTP server (aiosmtplib): one connection per message."""

import logging

import aiosmtplib

from application.ports import EmailMessage
from domain.errors import MailNotSent
from infrastructure.mail.message import mime_message
from infrastructure.settings import SmtpTls

logger = logging.getLogger("authsvc.mail")


class SmtpMailer:
    """`tls` is implicit TLS (port 465); `starttls` upgrades a plain connection (587) and
    refuses to go on without it; `none` sends in clear, for a relay on this machine."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: SmtpTls,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._sender = sender
        self._username = username
        self._password = password
        self._timeout_seconds = timeout_seconds

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                mime_message(message, sender=self._sender),
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._tls == "tls",
                start_tls=self._tls == "starttls",
                timeout=self._timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            # The server's reply says why (4xx, 5xx); it never holds the message's text.
            logger.warning("SMTP %s:%d did not take a message: %s", self._host, self._port, error)
            raise MailNotSent from error
