"""DeliverMail and its loop on the in-memory outbox, a recording mailer and a fixed clock."""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from application.mail_delivery import (
    DeliverMail,
    DeliveryCounts,
    DeliveryPolicy,
    MailDeliveryLoop,
)
from application.ports import EmailMessage, UnitOfWork
from domain.errors import StorageUnavailable
from infrastructure.persistence.memory import InMemoryStore, InMemoryUnitOfWork
from tests.fakes import FixedClock, RecordingMailer

TOKEN = "a-single-use-token-that-must-never-be-logged"
POLICY = DeliveryPolicy(
    max_attempts=4,
    first_retry=timedelta(minutes=1),
    longest_retry=timedelta(minutes=3),
    jitter=0.2,
    lease=timedelta(minutes=10),
    batch_size=10,
)
FULL_DELAY = 0.0
"""A `chance` that picks no jitter: each retry waits its whole delay."""


def message(number: int) -> EmailMessage:
    return EmailMessage(
        to=f"user{number}@example.com", subject=f"message {number}", text=f"token: {TOKEN}\n"
    )


@dataclass
class Outbox:
    """An in-memory store with the clock and mailer its deliverers share."""

    store: InMemoryStore = field(default_factory=InMemoryStore)
    clock: FixedClock = field(default_factory=FixedClock)
    mailer: RecordingMailer = field(default_factory=RecordingMailer)

    def uow(self) -> UnitOfWork:
        return InMemoryUnitOfWork(self.store)

    async def queue(self, count: int) -> list[EmailMessage]:
        messages = [message(number) for number in range(count)]
        for queued in messages:
            async with self.uow() as uow:
                await uow.outbox.add(queued, now=self.clock.now())
        return messages

    def deliverer(self, policy: DeliveryPolicy = POLICY) -> DeliverMail:
        return DeliverMail(self.uow, self.mailer, self.clock, policy, lambda: FULL_DELAY)

    async def due(self) -> int:
        """How many messages are due now (claimed for a moment, then left to their lease)."""
        async with self.uow() as uow:
            return len(await uow.outbox.claim(now=self.clock.now(), limit=1000, lease=timedelta(0)))


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


async def test_due_messages_are_sent_oldest_first_and_leave_the_outbox(outbox: Outbox) -> None:
    messages = await outbox.queue(3)

    counts = await outbox.deliverer()()

    assert counts == DeliveryCounts(sent=3)
    assert outbox.mailer.sent == messages
    assert outbox.store.outbox == {}


async def test_a_pass_goes_on_batch_after_batch_until_nothing_is_due(outbox: Outbox) -> None:
    messages = await outbox.queue(25)

    counts = await outbox.deliverer()()

    assert counts == DeliveryCounts(sent=25)
    assert outbox.mailer.sent == messages


async def test_an_empty_outbox_is_a_pass_that_does_nothing(outbox: Outbox) -> None:
    assert await outbox.deliverer()() == DeliveryCounts()
    assert outbox.mailer.attempts == 0


async def test_a_failed_message_waits_twice_as_long_after_each_failure_up_to_the_cap(
    outbox: Outbox,
) -> None:
    (queued,) = await outbox.queue(1)
    outbox.mailer.failures = 3
    deliver = outbox.deliverer()

    assert await deliver() == DeliveryCounts(retried=1)
    for delay in (timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=3)):
        outbox.clock.advance(delay - timedelta(seconds=1))
        assert await deliver() == DeliveryCounts(), f"due before {delay}"
        outbox.clock.advance(timedelta(seconds=1))
        expected = DeliveryCounts(retried=1) if outbox.mailer.failures else DeliveryCounts(sent=1)
        assert await deliver() == expected

    assert outbox.mailer.sent == [queued]
    assert outbox.mailer.attempts == 4


def test_the_delay_doubles_up_to_the_cap_and_jitter_only_shortens_it() -> None:
    delays = [POLICY.retry_delay(failures, FULL_DELAY) for failures in range(1, 6)]
    assert delays == [timedelta(minutes=minutes) for minutes in (1, 2, 3, 3, 3)]
    assert POLICY.retry_delay(2, 0.5) == timedelta(minutes=2) * 0.9
    assert POLICY.retry_delay(2, 0.999999) > timedelta(minutes=2) * 0.8


def test_the_default_policy_gives_up_about_a_day_after_queuing() -> None:
    policy = DeliveryPolicy()
    waits = [policy.retry_delay(failures, FULL_DELAY) for failures in range(1, 12)]
    shortest = [policy.retry_delay(failures, 0.999999) for failures in range(1, 12)]

    assert policy.max_attempts == 12
    assert waits[0] == timedelta(minutes=1)
    assert timedelta(hours=20) < sum(waits, timedelta(0)) < timedelta(hours=21)
    assert timedelta(hours=16) < sum(shortest, timedelta(0)) < timedelta(hours=17)


async def test_after_the_last_attempt_the_message_is_given_up_with_an_error_logged(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    await outbox.queue(1)
    outbox.mailer.failures = POLICY.max_attempts
    deliver = outbox.deliverer()

    counts = DeliveryCounts()
    for _ in range(POLICY.max_attempts):
        counts.add(await deliver())
        outbox.clock.advance(POLICY.longest_retry)

    assert counts == DeliveryCounts(retried=POLICY.max_attempts - 1, given_up=1)
    assert outbox.store.outbox == {}
    (error,) = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert error.getMessage() == (
        f"mail 1 given up after {POLICY.max_attempts} attempts: MailNotSent: Mail could not be sent"
    )
    assert TOKEN not in caplog.text


async def test_an_unexpected_mailer_error_counts_as_a_failed_attempt(outbox: Outbox) -> None:
    class BrokenMailer(RecordingMailer):
        async def send(self, message: EmailMessage) -> None:
            raise ValueError(f"cannot encode {message.text}")

    outbox.mailer = BrokenMailer()
    await outbox.queue(1)

    assert await outbox.deliverer()() == DeliveryCounts(retried=1)
    assert await outbox.due() == 0
    outbox.clock.advance(POLICY.first_retry)
    assert await outbox.due() == 1


async def test_a_pass_stops_after_a_batch_that_sent_nothing(outbox: Outbox) -> None:
    """The server is down: the next poll tries again, rather than this pass trying every
    message of the backlog."""
    await outbox.queue(25)
    outbox.mailer.failures = 1000

    counts = await outbox.deliverer()()

    assert counts == DeliveryCounts(retried=POLICY.batch_size)
    assert await outbox.due() == 25 - POLICY.batch_size


async def test_a_message_claimed_by_a_deliverer_that_died_comes_back_after_the_lease(
    outbox: Outbox,
) -> None:
    (queued,) = await outbox.queue(1)
    async with outbox.uow() as uow:
        await uow.outbox.claim(now=outbox.clock.now(), limit=10, lease=POLICY.lease)

    assert await outbox.deliverer()() == DeliveryCounts()
    outbox.clock.advance(POLICY.lease)
    assert await outbox.deliverer()() == DeliveryCounts(sent=1)
    assert outbox.mailer.sent == [queued]


async def test_a_batch_whose_lease_is_half_spent_is_left_to_come_back(outbox: Outbox) -> None:
    """Sends that take long (here 3 minutes each) must not outlast the claim, or another
    deliverer could claim and send the same messages."""

    class SlowMailer(RecordingMailer):
        async def send(self, message: EmailMessage) -> None:
            await super().send(message)
            outbox.clock.advance(timedelta(minutes=3))

    outbox.mailer = SlowMailer()
    messages = await outbox.queue(4)

    assert await outbox.deliverer()() == DeliveryCounts(sent=2)
    assert outbox.mailer.sent == messages[:2]
    outbox.clock.advance(POLICY.lease)
    assert await outbox.deliverer()() == DeliveryCounts(sent=2)
    assert outbox.mailer.sent == messages


async def test_two_deliverers_never_send_one_message_twice(outbox: Outbox) -> None:
    messages = await outbox.queue(45)

    first, second = await asyncio.gather(outbox.deliverer()(), outbox.deliverer()())

    assert first.sent > 0
    assert second.sent > 0
    assert first.sent + second.sent == 45
    assert sorted(sent.subject for sent in outbox.mailer.sent) == sorted(
        queued.subject for queued in messages
    )


async def test_a_stopped_pass_sends_no_further_message(outbox: Outbox) -> None:
    stop = asyncio.Event()

    class StoppingMailer(RecordingMailer):
        async def send(self, message: EmailMessage) -> None:
            await super().send(message)
            stop.set()

    outbox.mailer = StoppingMailer()
    await outbox.queue(3)

    assert await outbox.deliverer()(stop) == DeliveryCounts(sent=1)
    outbox.clock.advance(POLICY.lease)
    assert await outbox.due() == 2


class DatabaseOutage:
    """A unit of work factory that fails like an unreachable database `failures` times."""

    def __init__(self, outbox: Outbox, failures: int) -> None:
        self._outbox = outbox
        self.failures = failures

    def __call__(self) -> UnitOfWork:
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailable
        return self._outbox.uow()


class NotifyingMailer(RecordingMailer):
    """Sets `delivered` once it has sent `expected` messages."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.delivered = asyncio.Event()

    async def send(self, message: EmailMessage) -> None:
        await super().send(message)
        if len(self.sent) == self.expected:
            self.delivered.set()


async def test_the_loop_logs_a_database_outage_once_and_delivers_when_it_ends(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authsvc.mail")
    outbox.mailer = mailer = NotifyingMailer(expected=2)
    await outbox.queue(2)
    outage = DatabaseOutage(outbox, failures=5)
    deliver = DeliverMail(outage, mailer, outbox.clock, POLICY)

    async with MailDeliveryLoop(deliver, timedelta(0)).in_background(grace=timedelta(seconds=5)):
        await asyncio.wait_for(mailer.delivered.wait(), 10)

    assert outage.failures == 0
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "mail delivery failed (StorageUnavailable: Service temporarily unavailable);"
        " trying again every 0 s",
        "mail 1 sent",
        "mail 2 sent",
        "mail delivery works again",
    ]


class BlockingMailer(RecordingMailer):
    """Holds each send until `release` is set; `sending` tells that one has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: EmailMessage) -> None:
        self.sending.set()
        await self.release.wait()
        await super().send(message)


async def test_stopping_the_loop_lets_the_send_in_progress_finish(outbox: Outbox) -> None:
    outbox.mailer = mailer = BlockingMailer()
    messages = await outbox.queue(3)
    loop = MailDeliveryLoop(outbox.deliverer(), timedelta(seconds=60))

    async with loop.in_background(grace=timedelta(seconds=10)):
        await asyncio.wait_for(mailer.sending.wait(), 10)
        mailer.release.set()

    assert mailer.sent == messages[:1]
    assert len(outbox.store.outbox) == 2
    outbox.clock.advance(POLICY.lease)
    assert await outbox.due() == 2


async def test_a_send_that_outlasts_the_grace_is_abandoned_and_comes_back(outbox: Outbox) -> None:
    outbox.mailer = mailer = BlockingMailer()
    await outbox.queue(1)
    loop = MailDeliveryLoop(outbox.deliverer(), timedelta(seconds=60))

    async with loop.in_background(grace=timedelta(0)):
        await asyncio.wait_for(mailer.sending.wait(), 10)

    assert mailer.sent == []
    assert await outbox.due() == 0
    outbox.clock.advance(POLICY.lease)
    assert await outbox.due() == 1
