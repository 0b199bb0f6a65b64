"""The Outbox contract, on every store."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from application.ports import EmailMessage, QueuedMessage, UnitOfWork, UnitOfWorkFactory
from tests.contract.conftest import abandon_transaction

QUEUED_AT = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
LEASE = timedelta(minutes=5)
LEASE_ENDS = QUEUED_AT + LEASE
BEFORE_LEASE_ENDS = LEASE_ENDS - timedelta(microseconds=1)
CLAIMERS = 3
MESSAGES = 30


def message(number: int = 1, *, html: str | None = None) -> EmailMessage:
    return EmailMessage(
        to=f"user{number}@example.com",
        subject=f"Réinitialisez votre mot de passe 🔑 {number}",
        text=f"Message {number}\n\nhttps://app.example.com/reset-password?token=t{number}\n",
        html=html,
    )


async def queue(uow_factory: UnitOfWorkFactory, *messages: EmailMessage) -> None:
    async with uow_factory() as uow:
        for each in messages:
            await uow.outbox.add(each, now=QUEUED_AT)


async def claim(
    uow_factory: UnitOfWorkFactory, now: datetime = QUEUED_AT, limit: int = 10
) -> list[QueuedMessage]:
    async with uow_factory() as uow:
        return await uow.outbox.claim(now=now, limit=limit, lease=LEASE)


async def test_a_claim_gives_due_messages_oldest_first_up_to_its_limit(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with_html = message(1, html="<p>Message 1</p>")
    await queue(uow_factory, with_html, message(2), message(3))

    first = await claim(uow_factory, limit=2)
    second = await claim(uow_factory, limit=2)

    assert [queued.message for queued in first] == [with_html, message(2)]
    assert [queued.message for queued in second] == [message(3)]
    assert first[0].id < first[1].id < second[0].id
    assert all(queued.attempts == 0 for queued in first + second)
    assert first[0].claim != second[0].claim
    assert await claim(uow_factory) == []


async def test_a_message_is_not_due_before_it_was_queued(uow_factory: UnitOfWorkFactory) -> None:
    await queue(uow_factory, message())

    assert await claim(uow_factory, now=QUEUED_AT - timedelta(microseconds=1)) == []
    assert len(await claim(uow_factory, now=QUEUED_AT)) == 1


async def test_a_claimed_message_comes_back_only_when_its_lease_ends(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await queue(uow_factory, message())
    [first] = await claim(uow_factory)

    assert await claim(uow_factory, now=BEFORE_LEASE_ENDS) == []
    [again] = await claim(uow_factory, now=LEASE_ENDS)

    assert (again.id, again.message, again.attempts) == (first.id, first.message, 0)
    assert again.claim != first.claim


async def test_delivered_deletes_the_message_for_the_holder_of_its_claim_only(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await queue(uow_factory, message())
    [lapsed] = await claim(uow_factory)
    [held] = await claim(uow_factory, now=LEASE_ENDS)

    async with uow_factory() as uow:
        await uow.outbox.delivered(lapsed)
    assert [queued.id for queued in await claim(uow_factory, now=LEASE_ENDS + LEASE)] == [held.id]

    [current] = await claim(uow_factory, now=LEASE_ENDS + 2 * LEASE)
    async with uow_factory() as uow:
        await uow.outbox.delivered(current)
    assert await claim(uow_factory, now=LEASE_ENDS + 10 * LEASE) == []


async def test_give_up_deletes_the_message_for_the_holder_of_its_claim_only(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await queue(uow_factory, message())
    [lapsed] = await claim(uow_factory)
    [held] = await claim(uow_factory, now=LEASE_ENDS)

    async with uow_factory() as uow:
        await uow.outbox.give_up(lapsed)
        await uow.outbox.give_up(held)

    assert await claim(uow_factory, now=LEASE_ENDS + 10 * LEASE) == []


async def test_retry_at_releases_the_message_due_later_with_one_more_attempt(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await queue(uow_factory, message())
    [first] = await claim(uow_factory)
    retry = QUEUED_AT + timedelta(minutes=1, microseconds=7)

    async with uow_factory() as uow:
        await uow.outbox.retry_at(first, retry)

    assert await claim(uow_factory, now=retry - timedelta(microseconds=1)) == []
    [again] = await claim(uow_factory, now=retry)
    assert (again.id, again.message, again.attempts) == (first.id, first.message, 1)
    async with uow_factory() as uow:
        await uow.outbox.retry_at(again, retry + LEASE)
    [third] = await claim(uow_factory, now=retry + LEASE)
    assert (third.id, third.attempts) == (first.id, 2)


async def test_retry_at_changes_nothing_without_the_current_claim(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await queue(uow_factory, message())
    [lapsed] = await claim(uow_factory)
    [held] = await claim(uow_factory, now=LEASE_ENDS)

    async with uow_factory() as uow:
        await uow.outbox.retry_at(lapsed, LEASE_ENDS)

    assert await claim(uow_factory, now=LEASE_ENDS + LEASE - timedelta(microseconds=1)) == []
    [again] = await claim(uow_factory, now=LEASE_ENDS + LEASE)
    assert (again.id, again.attempts) == (held.id, 0)


async def test_a_message_queued_in_a_transaction_left_by_an_exception_is_not_kept(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async def queue_one(uow: UnitOfWork) -> None:
        await uow.outbox.add(message(), now=QUEUED_AT)

    await abandon_transaction(uow_factory, queue_one)

    assert await claim(uow_factory) == []


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_claimers_get_disjoint_messages_and_together_all(
    uow_factory: UnitOfWorkFactory, round_: int
) -> None:
    await queue(uow_factory, *(message(number) for number in range(MESSAGES)))
    all_started = asyncio.Barrier(CLAIMERS)

    async def claim_until_none_left() -> list[int]:
        taken: list[int] = []
        async with uow_factory() as uow:
            await all_started.wait()
            while batch := await uow.outbox.claim(now=QUEUED_AT, limit=3, lease=LEASE):
                taken += [queued.id for queued in batch]
        return taken

    taken = await asyncio.gather(*(claim_until_none_left() for _ in range(CLAIMERS)))

    every_id = [message_id for ids in taken for message_id in ids]
    assert len(every_id) == len(set(every_id)) == MESSAGES
