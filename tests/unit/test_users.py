import pytest

from domain.errors import InvalidValue, ValidationFailed
from domain.users import (
    UNSET,
    Email,
    PasswordHash,
    PasswordPolicy,
    ProfileChanges,
    parse_contact,
    parse_name,
)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert Email.parse("  Ada@Example.COM ").value == "ada@example.com"


@pytest.mark.parametrize(
    "raw", ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "a@b@c.com"]
)
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="valid email"):
        Email.parse(raw)


def test_email_over_100_characters_is_refused() -> None:
    with pytest.raises(InvalidValue, match="100"):
        Email.parse("a" * 90 + "@example.com")


def test_name_is_trimmed_and_limited_in_code_points() -> None:
    assert parse_name("  Zoë  ") == "Zoë"
    assert parse_name("🚀" * 100) == "🚀" * 100
    with pytest.raises(InvalidValue):
        parse_name("🚀" * 101)
    with pytest.raises(InvalidValue):
        parse_name("   ")


@pytest.mark.parametrize("raw", ["+1 (555) 010-0100", "", None])
def test_contact_accepts_digits_spaces_and_punctuation(raw: str | None) -> None:
    assert parse_contact(raw) == raw


@pytest.mark.parametrize("raw", ["555-CALL", "1" * 21, "555;0100"])
def test_contact_refuses_other_characters_and_long_values(raw: str) -> None:
    with pytest.raises(InvalidValue):
        parse_contact(raw)


def test_password_policy_counts_bcrypt_bytes_not_characters() -> None:
    policy = PasswordPolicy(min_length=8, max_bytes=72)
    assert policy.check("é" * 36).value == "é" * 36
    with pytest.raises(InvalidValue, match="72 bytes"):
        policy.check("é" * 37)


def test_password_policy_without_byte_limit_caps_characters() -> None:
    policy = PasswordPolicy(min_length=8, max_bytes=None, max_length=256)
    assert policy.check("é" * 256)
    with pytest.raises(InvalidValue, match="256"):
        policy.check("é" * 257)


def test_password_policy_refuses_short_and_common_passwords() -> None:
    policy = PasswordPolicy(min_length=10, common_passwords=frozenset({"password12"}))
    with pytest.raises(InvalidValue, match="at least 10"):
        policy.check("short")
    with pytest.raises(InvalidValue, match="common"):
        policy.check("PassWord12")


def test_secrets_stay_out_of_reprs() -> None:
    policy = PasswordPolicy()
    assert "hunter22" not in repr(policy.check("hunter2222"))
    assert "$2b$" not in repr(PasswordHash("$2b$12$abc"))


def test_profile_changes_report_every_invalid_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        ProfileChanges.parse(name=" ", contact="letters")
    assert {error.field for error in caught.value.errors} == {"name", "contact"}


def test_profile_changes_need_at_least_one_field() -> None:
    with pytest.raises(ValidationFailed, match="at least one"):
        ProfileChanges.parse()


def test_profile_changes_keep_only_given_fields() -> None:
    changes = ProfileChanges.parse(bio=None, contact=UNSET)
    assert changes.as_dict() == {"bio": None}
