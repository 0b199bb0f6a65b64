"""A real SMTP server on a loopback port (aiosmtpd), in the test's own event loop: it keeps
what it accepts, and answers the next DATA commands with the replies it is told to refuse with."""

import asyncio
import email
import email.message
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class SmtpSink:
    refusals: list[str] = field(default_factory=list)
    """Replies such as `451 4.3.0 Try again later`, one used per message until none is left."""
    received: list[email.message.EmailMessage] = field(default_factory=list)
    port: int = 0
    """Where it listens: given, or (0) any free port, then set to the one it got."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.received.append(message)
        return "250 OK"


@asynccontextmanager
async def smtp_sink(*, refusals: list[str] | None = None, port: int = 0) -> AsyncIterator[SmtpSink]:
    sink = SmtpSink(refusals=refusals or [], port=port)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="sink.localhost"), "127.0.0.1", port
    )
    sink.port = int(server.sockets[0].getsockname()[1])
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()
