"""DeliverMail through the real SMTP adapter to a real SMTP server on loopback (aiosmtpd), over
the outbox of every store: a server that refuses and then accepts, and one that is down while
mail is queued and then comes up. The clock is fixed and moved past each retry's delay."""

import email.message
from dataclasses import dataclass
from datetime import timedelta

import pytest

from application.mail_delivery import DeliverMail, DeliveryCounts, DeliveryPolicy
from application.ports import EmailMessage, UnitOfWorkFactory
from infrastructure.mail.smtp import SmtpMailer
from tests.fakes import FixedClock
from tests.smtp_sink import smtp_sink
from tests.system.processes import free_port

POLICY = DeliveryPolicy(max_attempts=5, first_retry=timedelta(minutes=1))
QUEUED_DURING_OUTAGE = 20


def reset_mail(number: int) -> EmailMessage:
    return EmailMessage(
        to=f"user{number}@example.com",
        subject=f"Reset your password ({number})",
        text=f"Open the link to choose a new password.\nreset token {number}\n",
    )


@dataclass
class Delivery:
    uow: UnitOfWorkFactory
    clock: FixedClock

    async def queue(self, messages: list[EmailMessage]) -> None:
        for message in messages:
            async with self.uow() as uow:
                await uow.outbox.add(message, now=self.clock.now())

    def deliverer(self, smtp_port: int) -> DeliverMail:
        mailer = SmtpMailer(
            host="127.0.0.1",
            port=smtp_port,
            tls="none",
            sender="authsvc <no-reply@example.com>",
            timeout_seconds=5,
        )
        return DeliverMail(self.uow, mailer, self.clock, POLICY)

    async def passes(self, deliver: DeliverMail, count: int) -> DeliveryCounts:
        """`count` passes, the clock moved past any retry's delay after each, as the loop
        would see them over hours."""
        total = DeliveryCounts()
        for _ in range(count):
            total.add(await deliver())
            self.clock.advance(POLICY.longest_retry)
        return total

    async def left(self) -> int:
        async with self.uow() as uow:
            left = await uow.outbox.claim(now=self.clock.now(), limit=1000, lease=timedelta(0))
        return len(left)


@pytest.fixture
def delivery(uow_factory: UnitOfWorkFactory) -> Delivery:
    return Delivery(uow_factory, FixedClock())


def subjects(received: list[email.message.EmailMessage]) -> list[str]:
    return [str(message["Subject"]) for message in received]


async def test_a_server_that_refuses_then_accepts_gets_the_message_after_retries(
    delivery: Delivery,
) -> None:
    await delivery.queue([reset_mail(1)])

    refusals = ["421 4.3.2 Service shutting down", "451 4.3.0 Try again later", "554 5.7.1 No"]
    async with smtp_sink(refusals=refusals) as sink:
        deliver = delivery.deliverer(sink.port)
        first = await deliver()
        assert first == DeliveryCounts(retried=1)
        assert sink.received == []
        total = await delivery.passes(deliver, 4)

    assert total == DeliveryCounts(sent=1, retried=2)
    assert subjects(sink.received) == [reset_mail(1).subject]
    assert await delivery.left() == 0


async def test_mail_queued_while_the_server_is_down_all_arrives_once_when_it_comes_up(
    delivery: Delivery,
) -> None:
    messages = [reset_mail(number) for number in range(QUEUED_DURING_OUTAGE)]
    port = free_port()
    deliver = delivery.deliverer(port)
    await delivery.queue(messages[:10])

    during_outage = await delivery.passes(deliver, 2)
    await delivery.queue(messages[10:])
    during_outage.add(await delivery.passes(deliver, 1))

    assert during_outage.sent == 0
    assert during_outage.given_up == 0
    assert during_outage.retried >= 10
    async with smtp_sink(port=port) as sink:
        after = await delivery.passes(deliver, 3)

    assert after == DeliveryCounts(sent=QUEUED_DURING_OUTAGE)
    assert sorted(subjects(sink.received)) == sorted(message.subject for message in messages)
    assert await delivery.left() == 0


async def test_a_server_down_past_the_last_attempt_gives_the_message_up(
    delivery: Delivery,
) -> None:
    await delivery.queue([reset_mail(1)])
    deliver = delivery.deliverer(free_port())

    total = await delivery.passes(deliver, POLICY.max_attempts + 1)

    assert total == DeliveryCounts(retried=POLICY.max_attempts - 1, given_up=1)
    assert await delivery.left() == 0
