"""An `EmailMessage` of the port as the bytes of an RFC 5322 message, for every mailer."""

import email.message
import email.utils

from application.ports import EmailMessage


def mime_message(message: EmailMessage, *, sender: str) -> email.message.EmailMessage:
    """Plain text first, then the HTML alternative: clients show the last part they can."""
    mime = email.message.EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = email.utils.make_msgid(domain=_domain_of(sender))
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


def _domain_of(sender: str) -> str:
    """The sender's domain, so that Message-IDs do not carry this machine's host name."""
    _, address = email.utils.parseaddr(sender)
    return address.rpartition("@")[2] or "localhost"
