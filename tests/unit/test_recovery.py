from datetime import timedelta

import pytest

from application.accounts import ChangePasswordCommand
from application.authentication import LoginCommand
from application.recovery import ForgotPasswordCommand, ResetPasswordCommand
from domain.errors import InvalidCredentials, Overloaded, TooManyAttempts, ValidationFailed
from domain.users import Email
from tests.mails import has_no_token, token_in
from tests.unit.conftest import BREACHED_PASSWORD, PASSWORD, UseCasesOnFakes

EMAIL = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"


async def reset_token(use_cases: UseCasesOnFakes, email: str = EMAIL) -> str:
    await use_cases.request_password_reset(ForgotPasswordCommand(email=email))
    (mail,) = use_cases.take_mails()
    return token_in(mail)


async def reset(use_cases: UseCasesOnFakes, token: str, password: str = NEW_PASSWORD) -> None:
    await use_cases.reset_password(ResetPasswordCommand(token=token, new_password=password))


def error_fields(caught: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [error.field for error in caught.value.errors]


@pytest.fixture
async def ada(use_cases: UseCasesOnFakes) -> UseCasesOnFakes:
    """Use cases with Ada registered, her verification mail already taken."""
    await use_cases.make_user(EMAIL)
    use_cases.take_mails()
    return use_cases


async def test_forgot_password_of_an_unknown_email_writes_nothing(ada: UseCasesOnFakes) -> None:
    tokens_before = dict(ada.store.email_tokens)

    await ada.request_password_reset(ForgotPasswordCommand(email="nobody@example.com"))

    assert ada.store.outbox == {}
    assert ada.store.email_tokens == tokens_before


async def test_forgot_password_mails_a_link_and_the_token_to_the_account(
    ada: UseCasesOnFakes,
) -> None:
    await ada.request_password_reset(ForgotPasswordCommand(email=" Ada@Example.com "))

    (mail,) = ada.take_mails()
    token = token_in(mail)
    assert mail.to == EMAIL
    assert mail.subject == "Reset your password"
    assert f"https://app.example.com/reset-password?token={token}" in mail.text
    assert "30 minutes" in mail.text
    resets = [t for t in ada.store.email_tokens.values() if t.purpose.value == "password_reset"]
    assert len(resets) == 1
    assert token not in str(ada.store.email_tokens)  # only its digest is kept


async def test_forgot_password_refuses_an_invalid_email(ada: UseCasesOnFakes) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await ada.request_password_reset(ForgotPasswordCommand(email="not an email"))
    assert error_fields(caught) == ["email"]


@pytest.mark.parametrize("email", [EMAIL, "nobody@example.com"])
async def test_forgot_password_is_limited_per_email_known_or_not(
    ada: UseCasesOnFakes, email: str
) -> None:
    for _ in range(3):
        await ada.request_password_reset(ForgotPasswordCommand(email=email))
    with pytest.raises(TooManyAttempts):
        await ada.request_password_reset(ForgotPasswordCommand(email=email))
    # Another address has its own allowance.
    await ada.request_password_reset(ForgotPasswordCommand(email="grace@example.com"))
    ada.clock.advance(timedelta(hours=1))
    await ada.request_password_reset(ForgotPasswordCommand(email=email))


async def test_reset_sets_the_password_verifies_the_address_and_notifies(
    ada: UseCasesOnFakes,
) -> None:
    token = await reset_token(ada)

    await reset(ada, token)

    user = await ada.uow().users.get_by_email(Email(EMAIL))
    assert user is not None
    assert user.password_hash.value == f"fake${NEW_PASSWORD}"
    assert user.email_verified
    (notice,) = ada.take_mails()
    assert (notice.to, notice.subject) == (EMAIL, "Your password was changed")
    assert has_no_token(notice)
    assert "password_reset" in ada.security_log.names


async def test_reset_ends_every_session(ada: UseCasesOnFakes) -> None:
    sessions = [await ada.make_login(EMAIL) for _ in range(2)]

    await reset(ada, await reset_token(ada))

    assert await ada.uow().sessions.list_active(sessions[0].user.id, ada.clock.now()) == []


async def test_reset_clears_the_failures_counted_against_the_email(ada: UseCasesOnFakes) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await ada.login(LoginCommand(email=EMAIL, password="a wrong guess"))
    with pytest.raises(TooManyAttempts):
        await ada.login(LoginCommand(email=EMAIL, password=PASSWORD))

    await reset(ada, await reset_token(ada))

    result = await ada.login(LoginCommand(email=EMAIL, password=NEW_PASSWORD))
    assert result.user.email.value == EMAIL


async def test_a_reset_token_works_once(ada: UseCasesOnFakes) -> None:
    token = await reset_token(ada)
    await reset(ada, token)

    with pytest.raises(ValidationFailed) as caught:
        await reset(ada, token, "yet another passphrase")
    assert error_fields(caught) == ["token"]


async def test_a_newer_reset_token_supersedes_the_older(ada: UseCasesOnFakes) -> None:
    older = await reset_token(ada)
    newer = await reset_token(ada)

    with pytest.raises(ValidationFailed) as caught:
        await reset(ada, older)
    assert error_fields(caught) == ["token"]
    await reset(ada, newer)


async def test_a_reset_token_expires_after_its_ttl(ada: UseCasesOnFakes) -> None:
    token = await reset_token(ada)
    ada.clock.advance(timedelta(minutes=30))

    with pytest.raises(ValidationFailed) as caught:
        await reset(ada, token)
    assert error_fields(caught) == ["token"]


async def test_a_reset_token_just_before_expiry_works(ada: UseCasesOnFakes) -> None:
    token = await reset_token(ada)
    ada.clock.advance(timedelta(minutes=29, seconds=59))

    await reset(ada, token)


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43])
async def test_an_unknown_token_costs_no_hash(ada: UseCasesOnFakes, token: str) -> None:
    ada.hasher.full = True  # any hash would raise Overloaded

    with pytest.raises(ValidationFailed) as caught:
        await reset(ada, token)
    assert error_fields(caught) == ["token"]


async def test_a_token_of_another_purpose_does_not_reset(ada: UseCasesOnFakes) -> None:
    await ada.make_user("grace@example.com")
    (verification,) = ada.take_mails()

    with pytest.raises(ValidationFailed) as caught:
        await reset(ada, token_in(verification))
    assert error_fields(caught) == ["token"]


@pytest.mark.parametrize("password", ["short", "password123", BREACHED_PASSWORD])
async def test_reset_refuses_a_bad_password_and_keeps_the_token(
    ada: UseCasesOnFakes, password: str
) -> None:
    token = await reset_token(ada)

    with pytest.raises(ValidationFailed) as caught:
        await reset(ada, token, password)
    assert error_fields(caught) == ["newPassword"]
    await reset(ada, token)


async def test_reset_with_the_hash_queue_full_keeps_the_token(ada: UseCasesOnFakes) -> None:
    token = await reset_token(ada)
    ada.hasher.full = True

    with pytest.raises(Overloaded):
        await reset(ada, token)
    ada.hasher.full = False
    await reset(ada, token)


async def test_change_password_queues_a_notice(ada: UseCasesOnFakes) -> None:
    login = await ada.make_login(EMAIL)

    await ada.change_password(
        ChangePasswordCommand(
            user_id=login.user.id,
            session_id=login.session_id,
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
        )
    )

    (notice,) = ada.take_mails()
    assert (notice.to, notice.subject) == (EMAIL, "Your password was changed")
    assert has_no_token(notice)
