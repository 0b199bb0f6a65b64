import pytest

from application.accounts import DeleteAccountCommand, RegisterCommand, UpdateProfileCommand
from domain.errors import EmailAlreadyRegistered, UserNotFound, ValidationFailed
from domain.users import Email
from tests.unit.conftest import PASSWORD, UseCases


async def test_register_stores_a_normalized_user_with_a_hashed_password(
    use_cases: UseCases,
) -> None:
    user = await use_cases.register(
        RegisterCommand(name="  Ada Lovelace ", email=" Ada@Example.com", password=PASSWORD)
    )
    assert (user.name, user.email.value) == ("Ada Lovelace", "ada@example.com")
    assert user.created_at == use_cases.clock.now()
    stored = await use_cases.uow().users.get(user.id)
    assert stored is not None
    assert stored.password_hash.value == f"fake${PASSWORD}"


async def test_register_refuses_an_email_registered_in_another_case(use_cases: UseCases) -> None:
    await use_cases.make_user("ada@example.com")
    with pytest.raises(EmailAlreadyRegistered):
        await use_cases.make_user("ADA@example.com")
    assert len(use_cases.store.users) == 1


async def test_register_reports_every_invalid_field_and_stores_nothing(
    use_cases: UseCases,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await use_cases.register(RegisterCommand(name="", email="nope", password="short"))
    assert [error.field for error in caught.value.errors] == ["name", "email", "password"]
    assert use_cases.store.users == {}


async def test_update_profile_changes_only_the_given_fields(use_cases: UseCases) -> None:
    user = await use_cases.make_user()
    await use_cases.update_profile(UpdateProfileCommand(user_id=user.id, bio="Analyst"))
    updated = await use_cases.update_profile(
        UpdateProfileCommand(user_id=user.id, contact="+44 20 7946 0000")
    )
    assert (updated.name, updated.bio, updated.contact) == ("Ada", "Analyst", "+44 20 7946 0000")


async def test_update_profile_clears_with_none(use_cases: UseCases) -> None:
    user = await use_cases.make_user()
    await use_cases.update_profile(UpdateProfileCommand(user_id=user.id, bio="Analyst"))
    cleared = await use_cases.update_profile(UpdateProfileCommand(user_id=user.id, bio=None))
    assert cleared.bio is None


async def test_update_profile_with_nothing_to_change_is_invalid(use_cases: UseCases) -> None:
    user = await use_cases.make_user()
    with pytest.raises(ValidationFailed):
        await use_cases.update_profile(UpdateProfileCommand(user_id=user.id))


async def test_update_profile_of_a_missing_user(use_cases: UseCases) -> None:
    with pytest.raises(UserNotFound):
        await use_cases.update_profile(UpdateProfileCommand(user_id=404, name="Ghost"))


async def test_delete_account_removes_the_user_and_every_session(use_cases: UseCases) -> None:
    first = await use_cases.make_login()
    await use_cases.make_login()
    await use_cases.delete_account(
        DeleteAccountCommand(user_id=first.user.id, session_id=first.session_id, ip="192.0.2.1")
    )
    assert await use_cases.uow().users.get_by_email(Email.parse("ada@example.com")) is None
    assert use_cases.store.sessions == {}
    assert use_cases.security_log.names[-1] == "account_deleted"


async def test_delete_account_of_a_missing_user(use_cases: UseCases) -> None:
    with pytest.raises(UserNotFound):
        await use_cases.delete_account(DeleteAccountCommand(user_id=404))
