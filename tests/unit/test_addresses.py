from datetime import timedelta

import pytest
from dependency_injector import providers

from application.addresses import (
    ConfirmEmailChangeCommand,
    RequestEmailChangeCommand,
    ResendVerificationCommand,
    VerifyEmailCommand,
)
from application.authentication import LoginCommand
from application.recovery import ForgotPasswordCommand, ResetPasswordCommand
from domain.email_tokens import email_token_digest
from domain.errors import (
    EmailAlreadyRegistered,
    EmailNotVerified,
    InvalidCredentials,
    TooManyAttempts,
    ValidationFailed,
)
from domain.users import Email, User
from tests.mails import has_no_token, token_in
from tests.unit.conftest import PASSWORD, FakeAdapters, UseCasesOnFakes, use_cases_on

EMAIL = "ada@example.com"
NEW_EMAIL = "countess@example.com"


def error_fields(caught: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [error.field for error in caught.value.errors]


async def stored(use_cases: UseCasesOnFakes, user_id: int) -> User:
    user = await use_cases.uow().users.get(user_id)
    assert user is not None
    return user


async def test_register_queues_a_verification_mail(use_cases: UseCasesOnFakes) -> None:
    user = await use_cases.make_user(EMAIL, name="Ada <b>Lovelace</b>")

    (mail,) = use_cases.take_mails()
    token = token_in(mail)
    assert not user.email_verified
    assert (mail.to, mail.subject) == (EMAIL, "Confirm your email address")
    assert f"https://app.example.com/verify-email?token={token}" in mail.text
    assert "24 hours" in mail.text
    assert mail.html is not None
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in mail.html
    assert "<b>" not in mail.html


async def test_verify_email_marks_the_address_verified_once(use_cases: UseCasesOnFakes) -> None:
    user = await use_cases.make_user(EMAIL)
    token = token_in(use_cases.take_mails()[0])

    verified = await use_cases.verify_email(VerifyEmailCommand(token=token))

    assert verified.id == user.id
    assert verified.email_verified
    assert (await stored(use_cases, user.id)).email_verified
    with pytest.raises(ValidationFailed) as caught:
        await use_cases.verify_email(VerifyEmailCommand(token=token))
    assert error_fields(caught) == ["token"]


async def test_a_verification_token_expires(use_cases: UseCasesOnFakes) -> None:
    user = await use_cases.make_user(EMAIL)
    token = token_in(use_cases.take_mails()[0])
    use_cases.clock.advance(timedelta(hours=24))

    with pytest.raises(ValidationFailed):
        await use_cases.verify_email(VerifyEmailCommand(token=token))
    assert not (await stored(use_cases, user.id)).email_verified


async def test_a_reset_token_does_not_verify(use_cases: UseCasesOnFakes) -> None:
    await use_cases.make_user(EMAIL)
    use_cases.take_mails()
    await use_cases.request_password_reset(ForgotPasswordCommand(email=EMAIL))

    with pytest.raises(ValidationFailed):
        await use_cases.verify_email(VerifyEmailCommand(token=token_in(use_cases.take_mails()[0])))


async def test_resend_verification_supersedes_the_older_link(use_cases: UseCasesOnFakes) -> None:
    user = await use_cases.make_user(EMAIL)
    older = token_in(use_cases.take_mails()[0])

    assert await use_cases.resend_verification(ResendVerificationCommand(user_id=user.id))

    newer = token_in(use_cases.take_mails()[0])
    with pytest.raises(ValidationFailed):
        await use_cases.verify_email(VerifyEmailCommand(token=older))
    await use_cases.verify_email(VerifyEmailCommand(token=newer))


async def test_resend_verification_of_a_verified_address_sends_nothing(
    use_cases: UseCasesOnFakes,
) -> None:
    user = await use_cases.make_user(EMAIL)
    await use_cases.verify_email(VerifyEmailCommand(token=token_in(use_cases.take_mails()[0])))

    assert not await use_cases.resend_verification(ResendVerificationCommand(user_id=user.id))
    assert use_cases.take_mails() == []


async def test_resend_verification_is_limited_per_account(use_cases: UseCasesOnFakes) -> None:
    user = await use_cases.make_user(EMAIL)
    for _ in range(3):
        await use_cases.resend_verification(ResendVerificationCommand(user_id=user.id))
    with pytest.raises(TooManyAttempts):
        await use_cases.resend_verification(ResendVerificationCommand(user_id=user.id))
    assert len(use_cases.take_mails()) == 4  # the registration's and three more


async def request_change(
    use_cases: UseCasesOnFakes,
    user_id: int,
    *,
    password: str = PASSWORD,
    new_email: str = NEW_EMAIL,
) -> None:
    await use_cases.request_email_change(
        RequestEmailChangeCommand(user_id=user_id, password=password, new_email=new_email)
    )


@pytest.fixture
async def ada(use_cases: UseCasesOnFakes) -> User:
    user = await use_cases.make_user(EMAIL)
    use_cases.take_mails()
    return user


async def test_email_change_mails_a_confirmation_to_the_new_address(
    use_cases: UseCasesOnFakes, ada: User
) -> None:
    await request_change(use_cases, ada.id, new_email=" Countess@Example.com")

    (mail,) = use_cases.take_mails()
    token = token_in(mail)
    assert (mail.to, mail.subject) == (NEW_EMAIL, "Confirm your new email address")
    assert f"https://app.example.com/confirm-email-change?token={token}" in mail.text
    assert (await stored(use_cases, ada.id)).email == Email(EMAIL)  # not yet


async def test_email_change_needs_the_password_and_counts_wrong_ones(
    use_cases: UseCasesOnFakes, ada: User
) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await request_change(use_cases, ada.id, password="a wrong guess")
    with pytest.raises(TooManyAttempts):
        await request_change(use_cases, ada.id)
    with pytest.raises(TooManyAttempts):  # the same count as logins
        await use_cases.login(LoginCommand(email=EMAIL, password=PASSWORD))
    assert use_cases.take_mails() == []
    assert "email_change_failed" in use_cases.security_log.names


async def test_email_change_refuses_a_taken_address(use_cases: UseCasesOnFakes, ada: User) -> None:
    await use_cases.make_user(NEW_EMAIL)
    use_cases.take_mails()

    with pytest.raises(EmailAlreadyRegistered):
        await request_change(use_cases, ada.id)
    assert use_cases.take_mails() == []


@pytest.mark.parametrize(("new_email", "field"), [("nope", "newEmail"), (EMAIL, "newEmail")])
async def test_email_change_refuses_an_invalid_or_same_address(
    use_cases: UseCasesOnFakes, ada: User, new_email: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await request_change(use_cases, ada.id, new_email=new_email)
    assert error_fields(caught) == [field]


async def confirmation_token(use_cases: UseCasesOnFakes, user_id: int) -> str:
    await request_change(use_cases, user_id)
    return token_in(use_cases.take_mails()[0])


async def test_confirm_email_change_switches_the_address_ends_sessions_and_notifies_the_old(
    use_cases: UseCasesOnFakes, ada: User
) -> None:
    login = await use_cases.make_login(EMAIL)
    token = await confirmation_token(use_cases, ada.id)

    user = await use_cases.confirm_email_change(ConfirmEmailChangeCommand(token=token))

    assert (user.email, user.email_verified) == (Email(NEW_EMAIL), True)
    session = await use_cases.uow().sessions.get(login.session_id)
    assert session is not None
    assert not session.is_active(use_cases.clock.now())
    (notice,) = use_cases.take_mails()
    assert (notice.to, notice.subject) == (EMAIL, "Your email address was changed")
    assert NEW_EMAIL in notice.text
    assert has_no_token(notice)
    with pytest.raises(ValidationFailed):  # used up
        await use_cases.confirm_email_change(ConfirmEmailChangeCommand(token=token))


async def test_confirm_email_change_of_an_address_taken_meanwhile_keeps_the_token(
    use_cases: UseCasesOnFakes, ada: User
) -> None:
    token = await confirmation_token(use_cases, ada.id)
    await use_cases.make_user(NEW_EMAIL)

    with pytest.raises(EmailAlreadyRegistered):
        await use_cases.confirm_email_change(ConfirmEmailChangeCommand(token=token))
    assert (await stored(use_cases, ada.id)).email == Email(EMAIL)
    assert email_token_digest(token) in use_cases.store.email_tokens


async def test_a_confirmation_token_expires(use_cases: UseCasesOnFakes, ada: User) -> None:
    token = await confirmation_token(use_cases, ada.id)
    use_cases.clock.advance(timedelta(hours=24))

    with pytest.raises(ValidationFailed) as caught:
        await use_cases.confirm_email_change(ConfirmEmailChangeCommand(token=token))
    assert error_fields(caught) == ["token"]


async def test_a_reset_link_sent_to_the_old_address_dies_with_the_change(
    use_cases: UseCasesOnFakes, ada: User
) -> None:
    await use_cases.request_password_reset(ForgotPasswordCommand(email=EMAIL))
    reset_token = token_in(use_cases.take_mails()[0])
    await use_cases.confirm_email_change(
        ConfirmEmailChangeCommand(token=await confirmation_token(use_cases, ada.id))
    )

    with pytest.raises(ValidationFailed) as caught:
        await use_cases.reset_password(
            ResetPasswordCommand(token=reset_token, new_password="a brand new passphrase")
        )
    assert error_fields(caught) == ["token"]


async def test_a_verification_link_of_the_old_address_verifies_nothing(
    use_cases: UseCasesOnFakes,
) -> None:
    user = await use_cases.make_user(EMAIL)
    old_link = token_in(use_cases.take_mails()[0])
    await use_cases.confirm_email_change(
        ConfirmEmailChangeCommand(token=await confirmation_token(use_cases, user.id))
    )

    with pytest.raises(ValidationFailed):
        await use_cases.verify_email(VerifyEmailCommand(token=old_link))


@pytest.fixture
async def strict() -> UseCasesOnFakes:
    """Use cases with REQUIRE_EMAIL_VERIFICATION on."""
    adapters = FakeAdapters()
    adapters.require_verified_email.override(providers.Object(True))
    return await use_cases_on(adapters)


async def test_login_of_an_unverified_address_is_refused_only_after_the_right_password(
    strict: UseCasesOnFakes,
) -> None:
    await strict.make_user(EMAIL)
    with pytest.raises(InvalidCredentials):
        await strict.login(LoginCommand(email=EMAIL, password="a wrong guess"))
    with pytest.raises(EmailNotVerified):
        await strict.login(LoginCommand(email=EMAIL, password=PASSWORD))
    assert strict.store.sessions == {}


async def test_login_of_a_verified_address_goes_on(strict: UseCasesOnFakes) -> None:
    await strict.make_user(EMAIL)
    await strict.verify_email(VerifyEmailCommand(token=token_in(strict.take_mails()[0])))

    result = await strict.login(LoginCommand(email=EMAIL, password=PASSWORD))

    assert result.user.email_verified


async def test_login_without_the_requirement_lets_an_unverified_address_in(
    use_cases: UseCasesOnFakes,
) -> None:
    result = await use_cases.make_login(EMAIL)
    assert not result.user.email_verified
