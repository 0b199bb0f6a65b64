"""The Mailer port over its two adapters: an SMTP server on loopback (aiosmtpd, a real one)
and the directory of `.eml` files. Both deliver the message as given, or raise MailNotSent."""

import email
import email.policy
import socket
import stat
from pathlib import Path

import pytest

from application.ports import EmailMessage
from domain.errors import MailNotSent
from infrastructure.mail.directory import DirectoryMailer
from infrastructure.mail.smtp import SmtpMailer
from tests.smtp_sink import smtp_sink

SENDER = "authsvc <no-reply@example.com>"
MESSAGE = EmailMessage(
    to="ada@example.com",
    subject="Reset your password",
    text="Open the link to choose a new password.\nzoë ✓\n",
    html="<p>Open the link to choose a new password.</p>",
)


def smtp_mailer(port: int, **options: object) -> SmtpMailer:
    return SmtpMailer(
        host="127.0.0.1", port=port, tls="none", sender=SENDER, timeout_seconds=5, **options
    )


def lines_of(content: str) -> list[str]:
    """SMTP carries lines ending in CRLF; a file keeps what was written."""
    return content.splitlines()


def assert_is_the_message(received: email.message.EmailMessage) -> None:
    assert received["To"] == MESSAGE.to
    assert received["From"] == SENDER
    assert received["Subject"] == MESSAGE.subject
    assert received["Message-ID"].endswith("@example.com>")
    text, html = received.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert lines_of(text.get_content()) == lines_of(MESSAGE.text)
    assert html.get_content_type() == "text/html"
    assert html.get_content().strip() == MESSAGE.html


async def test_smtp_delivers_the_message_with_its_html_alternative() -> None:
    async with smtp_sink() as sink:
        await smtp_mailer(sink.port).send(MESSAGE)

    (received,) = sink.received
    assert_is_the_message(received)


async def test_smtp_sends_plain_text_alone_when_there_is_no_html() -> None:
    async with smtp_sink() as sink:
        await smtp_mailer(sink.port).send(
            EmailMessage(to=MESSAGE.to, subject=MESSAGE.subject, text=MESSAGE.text)
        )

    (received,) = sink.received
    assert received.get_content_type() == "text/plain"
    assert lines_of(received.get_content()) == lines_of(MESSAGE.text)


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param("451 4.3.0 Try again later", id="temporary"),
        pytest.param("554 5.7.1 Rejected", id="permanent"),
    ],
)
async def test_a_refused_message_is_not_sent_and_can_be_sent_again(refusal: str) -> None:
    async with smtp_sink(refusals=[refusal]) as sink:
        mailer = smtp_mailer(sink.port)
        with pytest.raises(MailNotSent):
            await mailer.send(MESSAGE)
        assert sink.received == []

        await mailer.send(MESSAGE)

    assert len(sink.received) == 1


async def test_a_server_that_is_down_is_mail_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = int(probe.getsockname()[1])

    with pytest.raises(MailNotSent):
        await smtp_mailer(closed_port).send(MESSAGE)


async def test_starttls_is_required_when_asked_for() -> None:
    """The sink offers no STARTTLS: the mailer must not fall back to sending in clear."""
    async with smtp_sink() as sink:
        mailer = SmtpMailer(
            host="127.0.0.1", port=sink.port, tls="starttls", sender=SENDER, timeout_seconds=5
        )
        with pytest.raises(MailNotSent):
            await mailer.send(MESSAGE)

    assert sink.received == []


async def test_the_directory_mailer_writes_one_private_eml_file_a_message(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "mail"
    mailer = DirectoryMailer(directory, sender=SENDER)

    await mailer.send(MESSAGE)
    await mailer.send(MESSAGE)

    files = sorted(directory.iterdir())
    assert [file.suffix for file in files] == [".eml", ".eml"]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(file.stat().st_mode) for file in files} == {0o600}
    for file in files:
        received = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        assert isinstance(received, email.message.EmailMessage)
        assert_is_the_message(received)


async def test_a_directory_that_cannot_be_made_is_mail_not_sent(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "mail"
    not_a_directory.write_text("a file where the directory should be")

    with pytest.raises(MailNotSent):
        await DirectoryMailer(not_a_directory / "outgoing", sender=SENDER).send(MESSAGE)
