from typing import Any

import pytest

from application.accounts import (
    ChangePasswordCommand,
    DeleteAccountCommand,
    ListUsersQuery,
    RegisterCommand,
    UpdateProfileCommand,
)
from application.authentication import (
    AuthenticateCommand,
    LoginCommand,
    LoginResult,
    RefreshCommand,
)
from domain.errors import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    NotAuthenticated,
    Overloaded,
    UserNotFound,
    ValidationFailed,
)
from domain.users import Email
from tests.unit.conftest import BREACHED_PASSWORD, PASSWORD, UseCasesOnFakes


async def test_register_stores_a_normalized_user_with_a_hashed_password(
    use_cases: UseCasesOnFakes,
) -> None:
    user = await use_cases.register_user(
        RegisterCommand(name="  Ada Lovelace ", email=" Ada@Example.com", password=PASSWORD)
    )
    assert (user.name, user.email.value) == ("Ada Lovelace", "ada@example.com")
    assert user.created_at == use_cases.clock.now()
    stored = await use_cases.uow().users.get(user.id)
    assert stored is not None
    assert stored.password_hash.value == f"fake${PASSWORD}"


async def test_register_refuses_an_email_registered_in_another_case(
    use_cases: UseCasesOnFakes,
) -> None:
    await use_cases.make_user("ada@example.com")
    with pytest.raises(EmailAlreadyRegistered):
        await use_cases.make_user("ADA@example.com")
    assert len(use_cases.store.users) == 1


async def test_register_reports_every_invalid_field_and_stores_nothing(
    use_cases: UseCasesOnFakes,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await use_cases.register_user(RegisterCommand(name="", email="nope", password="short"))
    assert [error.field for error in caught.value.errors] == ["name", "email", "password"]
    assert use_cases.store.users == {}


async def test_register_refuses_a_password_known_from_a_breach(
    use_cases: UseCasesOnFakes,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await use_cases.register_user(
            RegisterCommand(name="Ada", email="ada@example.com", password=BREACHED_PASSWORD)
        )
    assert [error.field for error in caught.value.errors] == ["password"]
    assert "breach" in caught.value.errors[0].message
    assert use_cases.store.users == {}


def changes_of(login: LoginResult, **fields: Any) -> UpdateProfileCommand:
    return UpdateProfileCommand(user_id=login.user.id, session_id=login.session_id, **fields)


async def test_update_profile_changes_only_the_given_fields(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    await use_cases.update_profile(changes_of(login, bio="Analyst"))
    updated = await use_cases.update_profile(changes_of(login, contact="+44 20 7946 0000"))
    assert (updated.name, updated.bio, updated.contact) == ("Ada", "Analyst", "+44 20 7946 0000")


async def test_update_profile_clears_with_none(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    await use_cases.update_profile(changes_of(login, bio="Analyst"))
    cleared = await use_cases.update_profile(changes_of(login, bio=None))
    assert cleared.bio is None


async def test_update_profile_with_nothing_to_change_is_invalid(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    with pytest.raises(ValidationFailed):
        await use_cases.update_profile(changes_of(login))


async def test_update_profile_through_an_ended_session_changes_nothing(
    use_cases: UseCasesOnFakes,
) -> None:
    revoked = await use_cases.make_login()
    expired = await use_cases.make_login()
    async with use_cases.uow() as uow:
        await uow.sessions.revoke(revoked.session_id, use_cases.clock.now())
    use_cases.clock.advance(use_cases.session_policy.max_lifetime)
    live = await use_cases.make_login()

    for ended in (revoked, expired):
        with pytest.raises(NotAuthenticated, match="Session has ended"):
            await use_cases.update_profile(changes_of(ended, bio="Intruder"))
    assert use_cases.store.users[live.user.id].bio is None


async def test_update_profile_through_another_users_session_changes_nothing(
    use_cases: UseCasesOnFakes,
) -> None:
    ada = await use_cases.make_login()
    bob = await use_cases.make_login("bob@example.com")
    with pytest.raises(NotAuthenticated):
        await use_cases.update_profile(
            UpdateProfileCommand(user_id=ada.user.id, session_id=bob.session_id, bio="Intruder")
        )
    assert use_cases.store.users[ada.user.id].bio is None


async def test_delete_account_removes_the_user_and_every_session(
    use_cases: UseCasesOnFakes,
) -> None:
    first = await use_cases.make_login()
    await use_cases.make_login()
    await use_cases.delete_account(
        DeleteAccountCommand(user_id=first.user.id, session_id=first.session_id, ip="192.0.2.1")
    )
    assert await use_cases.uow().users.get_by_email(Email.parse("ada@example.com")) is None
    assert use_cases.store.sessions == {}
    assert use_cases.security_log.names[-1] == "account_deleted"


async def test_delete_account_of_a_missing_user(use_cases: UseCasesOnFakes) -> None:
    with pytest.raises(UserNotFound):
        await use_cases.delete_account(DeleteAccountCommand(user_id=404))


async def test_list_users_pages_through_every_user_in_id_order(use_cases: UseCasesOnFakes) -> None:
    ada = await use_cases.make_user("ada@example.com")
    grace = await use_cases.make_user("grace@example.com")
    alan = await use_cases.make_user("alan@example.com")

    first = await use_cases.list_users(ListUsersQuery(limit=2))
    second = await use_cases.list_users(ListUsersQuery(after_id=first[-1].id, limit=2))

    assert first == [ada, grace]
    assert second == [alan]
    assert await use_cases.list_users(ListUsersQuery(after_id=alan.id)) == []


async def test_list_users_does_not_skip_anyone_when_a_listed_user_leaves(
    use_cases: UseCasesOnFakes,
) -> None:
    ada = await use_cases.make_user("ada@example.com")
    grace = await use_cases.make_user("grace@example.com")
    first = await use_cases.list_users(ListUsersQuery(limit=1))
    await use_cases.delete_account(DeleteAccountCommand(user_id=ada.id))

    assert await use_cases.list_users(ListUsersQuery(after_id=first[-1].id)) == [grace]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param(ListUsersQuery(limit=0), "limit", id="empty-page"),
        pytest.param(ListUsersQuery(limit=1001), "limit", id="page-too-large"),
        pytest.param(ListUsersQuery(after_id=-1), "after", id="negative-id"),
    ],
)
async def test_list_users_refuses_a_page_out_of_bounds(
    use_cases: UseCasesOnFakes, query: ListUsersQuery, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await use_cases.list_users(query)
    assert [error.field for error in caught.value.errors] == [field]


async def test_change_password_revokes_every_other_session(use_cases: UseCasesOnFakes) -> None:
    current = await use_cases.make_login()
    other = await use_cases.make_login()
    tokens = await use_cases.change_password(
        ChangePasswordCommand(
            user_id=current.user.id,
            session_id=current.session_id,
            current_password=PASSWORD,
            new_password="a brand new secret",
        )
    )
    assert (
        await use_cases.authenticate(AuthenticateCommand(access_token=tokens.access_token))
    ).session_id == current.session_id
    with pytest.raises(NotAuthenticated):
        await use_cases.authenticate(AuthenticateCommand(access_token=other.tokens.access_token))
    with pytest.raises(InvalidCredentials):
        await use_cases.login(LoginCommand(email="ada@example.com", password=PASSWORD))
    assert await use_cases.login(
        LoginCommand(email="ada@example.com", password="a brand new secret")
    )
    assert "password_changed" in use_cases.security_log.names


async def test_change_password_retires_the_callers_previous_refresh_token(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    tokens = await use_cases.change_password(
        ChangePasswordCommand(
            user_id=login.user.id,
            session_id=login.session_id,
            current_password=PASSWORD,
            new_password="a brand new secret",
        )
    )
    with pytest.raises(NotAuthenticated):
        await use_cases.refresh_tokens(RefreshCommand(refresh_token=login.tokens.refresh_token))
    assert await use_cases.refresh_tokens(RefreshCommand(refresh_token=tokens.refresh_token))


async def test_change_password_needs_the_current_password(use_cases: UseCasesOnFakes) -> None:
    login = await use_cases.make_login()
    with pytest.raises(InvalidCredentials):
        await use_cases.change_password(
            ChangePasswordCommand(
                user_id=login.user.id,
                session_id=login.session_id,
                current_password="not the password",
                new_password="a brand new secret",
            )
        )
    assert await use_cases.authenticate(AuthenticateCommand(access_token=login.tokens.access_token))
    assert use_cases.security_log.names[-1] == "password_change_failed"


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        (PASSWORD, "differ"),
        ("short", "at least 8"),
        ("PASSWORD123", "common"),
        ("é" * 37, "72"),
        (BREACHED_PASSWORD, "breach"),
    ],
)
async def test_change_password_refuses_a_bad_new_password(
    use_cases: UseCasesOnFakes, new_password: str, message: str
) -> None:
    login = await use_cases.make_login()
    with pytest.raises(ValidationFailed) as caught:
        await use_cases.change_password(
            ChangePasswordCommand(
                user_id=login.user.id,
                session_id=login.session_id,
                current_password=PASSWORD,
                new_password=new_password,
            )
        )
    assert caught.value.errors[0].field == "newPassword"
    assert message in caught.value.errors[0].message


async def test_a_password_change_finding_the_hash_queue_full_counts_no_guess(
    use_cases: UseCasesOnFakes,
) -> None:
    login = await use_cases.make_login()
    use_cases.hasher.full = True
    change = ChangePasswordCommand(
        user_id=login.user.id,
        session_id=login.session_id,
        current_password=PASSWORD,
        new_password="a brand new secret",
    )

    for _ in range(10):  # twice the guesses the email is allowed
        with pytest.raises(Overloaded):
            await use_cases.change_password(change)
    use_cases.hasher.full = False

    assert await use_cases.change_password(change)
