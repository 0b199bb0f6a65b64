import pytest

from domain.errors import InvalidValue, ValidationFailed
from domain.users import (
    UNSET,
    Email,
    PasswordHash,
    PasswordPolicy,
    ProfileChanges,
    is_unsafe_to_display,
    parse_contact,
    parse_name,
)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert Email.parse("  Ada@Example.COM ").value == "ada@example.com"


@pytest.mark.parametrize("raw", ["", "ada", "ada@", "@example.com", "ada@example", "a@b@c.com"])
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="valid email"):
        Email.parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("ada\x00@example.com", id="NUL"),
        pytest.param("ada\r\nbcc@example.com", id="CRLF"),
        pytest.param("ada\t@example.com", id="tab"),
        pytest.param("a da@example.com", id="space"),
        pytest.param("ada\u200b@example.com", id="zero-width-space"),
        pytest.param("ada\u202e@example.com", id="right-to-left-override"),
        pytest.param("ada\u00a0@example.com", id="no-break-space"),
        pytest.param("ada@example.com\u2028x", id="line-separator"),
        pytest.param("ada\ufeff@example.com", id="byte-order-mark"),
        pytest.param("ada@example.com\x85x", id="C1-next-line"),
    ],
)
def test_emails_with_control_format_or_whitespace_characters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="control or invisible characters"):
        Email.parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("ada\uff20example.com", id="fullwidth-at"),
        pytest.param("ada@ex\uff41mple.com", id="fullwidth-a"),
        pytest.param("ada@example\uff0ecom", id="fullwidth-full-stop"),
        pytest.param("\ufb01le@example.com", id="fi-ligature"),
    ],
)
def test_emails_with_look_alike_forms_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="look-alike"):
        Email.parse(raw)


def test_international_emails_are_accepted() -> None:
    assert Email.parse("Zoë@Exämple.de").value == "zoë@exämple.de"
    assert Email.parse("用户@例子.广告").value == "用户@例子.广告"


def test_a_stored_email_loads_as_it_is() -> None:
    assert Email.stored(" Ada@Example.com").value == " Ada@Example.com"
    with pytest.raises(InvalidValue):
        Email(" Ada@Example.com")


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


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("Ada\x00", id="NUL"),
        pytest.param("Ada\x1b[2J", id="escape"),
        pytest.param("Ada\rMallory", id="CR"),
        pytest.param("Ada\nLovelace", id="LF"),
        pytest.param("Ada\tLovelace", id="tab"),
        pytest.param("Ada\x9bLovelace", id="C1-control"),
        pytest.param("Ada\u2028Lovelace", id="line-separator"),
        pytest.param("\u202egnp.exe", id="right-to-left-override"),
        pytest.param("Ada\u202aLovelace", id="left-to-right-embedding"),
        pytest.param("Ada\u2067Lovelace", id="right-to-left-isolate"),
        pytest.param("Ada\u202cLovelace", id="pop-directional-formatting"),
    ],
)
def test_names_with_control_or_bidi_override_characters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="control or text-direction"):
        parse_name(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("\U0001f468\u200d\U0001f469\u200d\U0001f467", id="emoji-family-zwj"),
        pytest.param("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", id="persian-zwnj"),
        pytest.param("\u0639\u0644\u06cc", id="right-to-left-script"),
        pytest.param("Zoë O'Brien-Smith", id="latin"),
    ],
)
def test_names_keep_joiners_and_right_to_left_scripts(raw: str) -> None:
    assert parse_name(raw) == raw


def test_characters_unsafe_to_display() -> None:
    assert all(is_unsafe_to_display(char) for char in "\x1b\r\n\x00\x9b\u202e\u2066\u2029")
    assert not any(is_unsafe_to_display(char) for char in "a é\u200d\u200c🚀\u0639")


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
