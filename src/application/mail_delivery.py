"""Getting queued mail out: `DeliverMail`, one pass over the outbox, and `MailDeliveryLoop`,
which runs a pass every few seconds (in the background of `authsvc serve`, or in a worker).

Delivery is at least once: a message is deleted from the outbox only after the mail server
took it, so a deliverer that dies between the two leaves it to be sent again when its lease
ends. Otherwise a message is sent once, whatever the number of deliverers: each claims its
messages for a lease, and stops sending from a batch when half the lease is spent, long before
another deliverer could claim them again."""

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta

from application.ports import Clock, Mailer, QueuedMessage, UnitOfWorkFactory
from domain.errors import MailNotSent

logger = logging.getLogger("authsvc.mail")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPolicy:
    """How hard delivery tries. After the n-th failed attempt a message waits
    `first_retry * 2**(n-1)`, at most `longest_retry`, shortened by up to `jitter` of it at
    random (so that a backlog does not come back all at once); after `max_attempts` failures
    it is given up. The defaults give up after 12 attempts, 16 to 21 hours after queuing (1, 2,
    4, 8, 16, 32, 64, 128, 256, 360 and 360 minutes between them, less the jitter): the first
    retries come soon, since a reset link is worth little after its 30 minutes."""

    max_attempts: int = 12
    first_retry: timedelta = timedelta(minutes=1)
    longest_retry: timedelta = timedelta(hours=6)
    jitter: float = 0.2
    lease: timedelta = timedelta(minutes=10)
    """How long a claim keeps a message from other deliverers; far longer than the sends of a
    batch take (the SMTP adapter gives up on a server after 30 s)."""
    batch_size: int = 10

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not timedelta(0) < self.first_retry <= self.longest_retry:
            raise ValueError("retries need 0 < first_retry <= longest_retry")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.lease <= timedelta(0) or self.batch_size < 1:
            raise ValueError("lease and batch_size must be positive")

    def retry_delay(self, failures: int, chance: float) -> timedelta:
        """The wait after `failures` failed attempts (1 or more); `chance` in [0, 1) picks the
        jitter: 0 waits the full delay."""
        exponent = min(failures - 1, 32)  # beyond it the cap holds anyway
        delay = min(self.first_retry * (1 << exponent), self.longest_retry)
        return delay * (1 - self.jitter * chance)


@dataclass(slots=True)
class DeliveryCounts:
    """What one pass did with the messages it claimed."""

    sent: int = 0
    retried: int = 0
    given_up: int = 0

    def add(self, other: "DeliveryCounts") -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.given_up += other.given_up


class DeliverMail:
    """One pass over the outbox:
    - claims the due messages, oldest first, a batch at a time, each for the policy's lease;
    - sends each; the sent ones are deleted (their body may carry a token);
    - a failure (the server down or refusing) puts the message back, due after a backoff; the
      failure that reaches `max_attempts` deletes it, logged as an ERROR with its id and the
      reason (never its body);
    - goes on until nothing is due, or a batch sent nothing at all (the server is down: the
      next pass tries again), or `stop` is set (the messages claimed and not yet sent come
      back when their lease ends).
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        mailer: Mailer,
        clock: Clock,
        policy: DeliveryPolicy,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self._uow = uow
        self._mailer = mailer
        self._clock = clock
        self._policy = policy
        self._chance = chance

    async def __call__(self, stop: asyncio.Event | None = None) -> DeliveryCounts:
        counts = DeliveryCounts()
        while stop is None or not stop.is_set():
            claimed_at = self._clock.now()
            async with self._uow() as uow:
                batch = await uow.outbox.claim(
                    now=claimed_at, limit=self._policy.batch_size, lease=self._policy.lease
                )
            if not batch:
                break
            send_until = claimed_at + self._policy.lease / 2
            of_batch = DeliveryCounts()
            for queued in batch:
                if (stop is not None and stop.is_set()) or self._clock.now() >= send_until:
                    break
                await self._deliver(queued, of_batch)
            counts.add(of_batch)
            if of_batch.sent == 0:
                break
        return counts

    async def _deliver(self, queued: QueuedMessage, counts: DeliveryCounts) -> None:
        try:
            await self._mailer.send(queued.message)
        except MailNotSent as error:
            await self._failed(queued, _why(error), counts)
        except Exception as error:  # one unsendable message must not block the rest
            await self._failed(queued, f"unexpected {type(error).__name__}", counts)
        else:
            async with self._uow() as uow:
                await uow.outbox.delivered(queued)
            logger.info("mail %d sent", queued.id)
            counts.sent += 1

    async def _failed(self, queued: QueuedMessage, reason: str, counts: DeliveryCounts) -> None:
        failures = queued.attempts + 1
        async with self._uow() as uow:
            if failures >= self._policy.max_attempts:
                await uow.outbox.give_up(queued)
                logger.error("mail %d given up after %d attempts: %s", queued.id, failures, reason)
                counts.given_up += 1
                return
            due = self._clock.now() + self._policy.retry_delay(failures, self._chance())
            await uow.outbox.retry_at(queued, due)
        logger.info("mail %d not sent (attempt %d), retried at %s", queued.id, failures, due)
        counts.retried += 1


def _why(error: Exception) -> str:
    """What caused `error` (a server's reply, a refused connection), by its first line: the
    lines after a database driver's first may quote SQL, and no mail server's reply quotes the
    message."""
    cause = error.__cause__ or error
    first_line = str(cause).partition("\n")[0]
    return f"{type(cause).__name__}: {first_line}"


class MailDeliveryLoop:
    """Runs DeliverMail every `interval` until stopped. Idle passes log nothing; a pass that
    fails (the database down) is logged once, not at every poll, and retried at the next."""

    def __init__(self, deliver: DeliverMail, interval: timedelta) -> None:
        self._deliver = deliver
        self._interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                await self._deliver(stop)
            except Exception as error:  # the loop outlives any one pass
                if not failing:
                    logger.warning(
                        "mail delivery failed (%s); trying again every %g s",
                        _why(error),
                        self._interval.total_seconds(),
                    )
                failing = True
            else:
                if failing:
                    logger.info("mail delivery works again")
                failing = False
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval.total_seconds())

    @asynccontextmanager
    async def in_background(self, *, grace: timedelta) -> AsyncIterator[None]:
        """The loop as a task of this event loop while inside. On leaving, it finishes the send
        in progress within `grace`, or abandons it (that message comes back after its lease)."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop), name="mail delivery")
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, grace.total_seconds())
            except TimeoutError:
                logger.info("mail delivery stopped in the middle of a send")
