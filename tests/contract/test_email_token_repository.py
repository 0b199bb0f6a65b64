"""The EmailTokenRepository contract, on every store."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from application.ports import UnitOfWorkFactory
from domain.email_tokens import EmailToken, EmailTokenPurpose, email_token_digest
from domain.errors import UserNotFound
from domain.users import Email, User
from tests.contract.conftest import abandon_transaction

AddUser = Callable[..., Awaitable[User]]

RESET = EmailTokenPurpose.PASSWORD_RESET
VERIFICATION = EmailTokenPurpose.EMAIL_VERIFICATION
ISSUED_AT = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
TTL = timedelta(minutes=30)
BEFORE_EXPIRY = ISSUED_AT + TTL - timedelta(microseconds=1)
CONCURRENT_USES = 4


def issue(
    user: User, purpose: EmailTokenPurpose = RESET, *, email: str | None = None
) -> tuple[str, EmailToken]:
    return EmailToken.issue(
        purpose=purpose,
        user_id=user.id,
        email=Email(email) if email else user.email,
        now=ISSUED_AT,
        ttl=TTL,
    )


async def add_token(uow_factory: UnitOfWorkFactory, token: EmailToken) -> None:
    async with uow_factory() as uow, uow.transaction():
        await uow.email_tokens.add(token)


async def found(
    uow_factory: UnitOfWorkFactory,
    token: str,
    purpose: EmailTokenPurpose = RESET,
    now: datetime = ISSUED_AT,
) -> EmailToken | None:
    async with uow_factory() as uow:
        return await uow.email_tokens.find(email_token_digest(token), purpose, now)


async def consumed(
    uow_factory: UnitOfWorkFactory,
    token: str,
    purpose: EmailTokenPurpose = RESET,
    now: datetime = ISSUED_AT,
) -> EmailToken | None:
    async with uow_factory() as uow, uow.transaction():
        return await uow.email_tokens.consume(email_token_digest(token), purpose, now)


async def test_a_token_reads_back_as_added_and_finding_it_uses_nothing(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    token, stored = issue(user, VERIFICATION, email="ada.new@example.com")
    await add_token(uow_factory, stored)

    assert await found(uow_factory, token, VERIFICATION) == stored
    assert await found(uow_factory, token, VERIFICATION) == stored
    assert stored.email == Email("ada.new@example.com")


async def test_consume_gives_the_token_once(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    token, stored = issue(user)
    await add_token(uow_factory, stored)

    assert await consumed(uow_factory, token, now=BEFORE_EXPIRY) == stored
    assert await consumed(uow_factory, token, now=BEFORE_EXPIRY) is None
    assert await found(uow_factory, token) is None


async def test_an_expired_token_is_neither_found_nor_consumed(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    token, stored = issue(user)
    await add_token(uow_factory, stored)

    assert await found(uow_factory, token, now=stored.expires_at) is None
    assert await consumed(uow_factory, token, now=stored.expires_at) is None
    assert await found(uow_factory, token, now=BEFORE_EXPIRY) == stored


async def test_a_token_serves_only_its_own_purpose(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    token, stored = issue(user, RESET)
    await add_token(uow_factory, stored)

    assert await found(uow_factory, token, VERIFICATION) is None
    assert await consumed(uow_factory, token, VERIFICATION) is None
    assert await consumed(uow_factory, token, RESET) == stored


async def test_an_unknown_token_is_not_found(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    await add_token(uow_factory, issue(user)[1])

    assert await found(uow_factory, "never-issued") is None
    assert await consumed(uow_factory, "never-issued") is None


async def test_a_newer_token_supersedes_the_older_ones_of_its_purpose_and_user(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada, bob = await add_user(email="ada@example.com"), await add_user(email="bob@example.com")
    first, first_stored = issue(ada, RESET)
    second, second_stored = issue(ada, RESET)
    verification, verification_stored = issue(ada, VERIFICATION)
    bobs, bobs_stored = issue(bob, RESET)
    for stored in (first_stored, verification_stored, bobs_stored, second_stored):
        await add_token(uow_factory, stored)

    assert await found(uow_factory, first) is None
    assert await found(uow_factory, second) == second_stored
    assert await found(uow_factory, verification, VERIFICATION) == verification_stored
    assert await found(uow_factory, bobs) == bobs_stored


async def test_deleting_the_user_deletes_their_tokens(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    ada, bob = await add_user(email="ada@example.com"), await add_user(email="bob@example.com")
    adas, adas_stored = issue(ada)
    bobs, bobs_stored = issue(bob)
    await add_token(uow_factory, adas_stored)
    await add_token(uow_factory, bobs_stored)

    async with uow_factory() as uow:
        assert await uow.users.delete(ada.id)

    assert await found(uow_factory, adas) is None
    assert await consumed(uow_factory, adas) is None
    assert await found(uow_factory, bobs) == bobs_stored


async def test_a_token_for_a_missing_user_is_refused(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    async with uow_factory() as uow:
        await uow.users.delete(user.id)
    token, stored = issue(user)

    with pytest.raises(UserNotFound):
        await add_token(uow_factory, stored)

    assert await found(uow_factory, token) is None


async def test_a_token_added_in_a_transaction_left_by_an_exception_is_not_kept(
    uow_factory: UnitOfWorkFactory, add_user: AddUser
) -> None:
    user = await add_user()
    older, older_stored = issue(user)
    await add_token(uow_factory, older_stored)
    newer, newer_stored = issue(user)

    async def supersede(uow: object) -> None:
        await uow.email_tokens.add(newer_stored)  # type: ignore[attr-defined]

    await abandon_transaction(uow_factory, supersede)

    assert await found(uow_factory, newer) is None
    assert await found(uow_factory, older) == older_stored


@pytest.mark.parametrize("round_", range(3))
async def test_of_concurrent_uses_of_one_token_exactly_one_wins(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, round_: int
) -> None:
    user = await add_user()
    token, stored = issue(user)
    await add_token(uow_factory, stored)
    all_inside = asyncio.Barrier(CONCURRENT_USES)

    async def use() -> EmailToken | None:
        async with uow_factory() as uow, uow.transaction():
            await all_inside.wait()
            return await uow.email_tokens.consume(email_token_digest(token), RESET, BEFORE_EXPIRY)

    outcomes = await asyncio.gather(*(use() for _ in range(CONCURRENT_USES)))

    assert [outcome for outcome in outcomes if outcome is not None] == [stored]
    assert await found(uow_factory, token) is None


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_adds_for_one_user_all_succeed_and_leave_one_token(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, round_: int
) -> None:
    user = await add_user()
    issued = [issue(user) for _ in range(CONCURRENT_USES)]
    all_inside = asyncio.Barrier(CONCURRENT_USES)

    async def request(stored: EmailToken) -> None:
        async with uow_factory() as uow, uow.transaction():
            await all_inside.wait()
            await uow.email_tokens.add(stored)

    await asyncio.gather(*(request(stored) for _, stored in issued))

    left = [stored for token, stored in issued if await found(uow_factory, token) is not None]
    assert len(left) == 1


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_first_adds_for_different_users_all_succeed(
    uow_factory: UnitOfWorkFactory, add_user: AddUser, round_: int
) -> None:
    """New users have no tokens yet: superseding nothing must lock no range that another
    user's first token goes into (on MySQL, gap locks there deadlocked registrations)."""
    users = [await add_user(email=f"user{n}@example.com") for n in range(CONCURRENT_USES)]
    issued = [issue(user) for user in users]
    all_inside = asyncio.Barrier(CONCURRENT_USES)

    async def request(stored: EmailToken) -> None:
        async with uow_factory() as uow, uow.transaction():
            await all_inside.wait()
            await uow.email_tokens.add(stored)

    await asyncio.gather(*(request(stored) for _, stored in issued))

    assert [await found(uow_factory, token) for token, _ in issued] == [s for _, s in issued]
