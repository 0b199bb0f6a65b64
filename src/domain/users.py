"""Users and the values they are made of: email, password, password hash, profile fields."""

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Final

from domain.errors import FieldError, InvalidValue, ValidationFailed

NAME_MAX_LENGTH: Final = 100
EMAIL_MAX_LENGTH: Final = 100
BIO_MAX_LENGTH: Final = 2000
CONTACT_MAX_LENGTH: Final = 20
BCRYPT_MAX_PASSWORD_BYTES: Final = 72

# One "@", no whitespace, a dot in the domain: a sanity check, not RFC 5322. Deliverability
# is the mail system's business; rejecting plausible addresses is worse than accepting odd ones.
_EMAIL_PATTERN: Final = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_CONTACT_PATTERN: Final = re.compile(r"[0-9 +\-()]*")

# Unicode general categories of characters that are invisible or break a line: control (Cc),
# format (Cf: zero-width characters, bidi marks), surrogates (Cs), private use (Co),
# unassigned (Cn) and separators (Zs, Zl, Zp).
_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_LINE_BREAKING_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Bidi classes of the embedding, override and isolate controls, which reorder the text after
# them on screen ("Trojan Source", CVE-2021-42574); the joiners ZWJ/ZWNJ are not among them.
_BIDI_CONTROL_CLASSES: Final = frozenset(
    {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
)


class Unset(Enum):
    """Marks a profile field the client did not send (as opposed to `None`, which clears it)."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


def normalized_email(raw: str) -> str:
    """Trimmed and lower-cased: the form in which emails are stored and looked up."""
    return raw.strip().lower()


@dataclass(frozen=True, slots=True)
class Email:
    """A normalized email: trimmed and lower-cased, so uniqueness ignores case everywhere."""

    value: str

    def __post_init__(self) -> None:
        if len(self.value) > EMAIL_MAX_LENGTH:
            raise InvalidValue(f"must be at most {EMAIL_MAX_LENGTH} characters")
        if self.value != normalized_email(self.value):
            raise InvalidValue("must be a valid email address")
        for char in self.value:
            if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
                raise InvalidValue(
                    "must not contain spaces, control or invisible characters "
                    f"(found U+{ord(char):04X})"
                )
            # A fullwidth at sign (U+FF20) looks like "@" and is another address.
            if unicodedata.normalize("NFKC", char) != char:
                raise InvalidValue(
                    "must not contain fullwidth or other look-alike forms of characters "
                    f"(found U+{ord(char):04X})"
                )
        if not _EMAIL_PATTERN.fullmatch(self.value):
            raise InvalidValue("must be a valid email address")

    @classmethod
    def parse(cls, raw: str) -> "Email":
        return cls(normalized_email(raw))

    @classmethod
    def stored(cls, value: str) -> "Email":
        """The email a stored row holds, as it is: a row written before today's rules (by the
        original service, say) must still load, to be listed, fixed or deleted, rather than
        break every query that meets it. One that is not normalized matches no lookup."""
        email = object.__new__(cls)
        object.__setattr__(email, "value", value)
        return email

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Password:
    """A plain-text password that passed the policy. Its repr never shows it."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Password(***)"


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A stored password hash (bcrypt or argon2id encoded string)."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "PasswordHash(***)"


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicy:
    """Length limits and a list of refused common passwords; no composition rules (ASVS 6.2)."""

    min_length: int = 8
    max_length: int = 256
    max_bytes: int | None = BCRYPT_MAX_PASSWORD_BYTES
    common_passwords: frozenset[str] = frozenset()

    def check(self, raw: str) -> Password:
        if len(raw) < self.min_length:
            raise InvalidValue(f"must be at least {self.min_length} characters")
        if len(raw) > self.max_length:
            raise InvalidValue(f"must be at most {self.max_length} characters")
        if self.max_bytes is not None and len(raw.encode()) > self.max_bytes:
            raise InvalidValue(
                f"must be at most {self.max_bytes} bytes of UTF-8 (the bcrypt limit; "
                "non-ASCII characters take 2 to 4 bytes each)"
            )
        if raw.casefold() in self.common_passwords:
            raise InvalidValue("is too common, choose another")
        return Password(raw)


def is_unsafe_to_display(char: str) -> bool:
    """Whether `char` can move the cursor, break a line or reorder the text around it on a
    terminal or a page: control characters, line and paragraph separators, lone surrogates and
    the bidi embedding, override and isolate controls. Joiners (ZWJ, ZWNJ) are safe: emoji
    sequences and scripts such as Persian need them."""
    return (
        unicodedata.category(char) in _LINE_BREAKING_CATEGORIES
        or unicodedata.bidirectional(char) in _BIDI_CONTROL_CLASSES
    )


def parse_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidValue("must not be empty")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidValue(f"must be at most {NAME_MAX_LENGTH} characters")
    for char in name:
        if is_unsafe_to_display(char):
            raise InvalidValue(
                f"must not contain control or text-direction characters (found U+{ord(char):04X})"
            )
    return name


def parse_bio(raw: str | None) -> str | None:
    if raw is not None and len(raw) > BIO_MAX_LENGTH:
        raise InvalidValue(f"must be at most {BIO_MAX_LENGTH} characters")
    return raw


def parse_contact(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) > CONTACT_MAX_LENGTH:
        raise InvalidValue(f"must be at most {CONTACT_MAX_LENGTH} characters")
    if not _CONTACT_PATTERN.fullmatch(raw):
        raise InvalidValue("may contain only digits, spaces and + - ( )")
    return raw


def collect_field_errors(parsers: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Runs each field's parser and reports every invalid field at once, not just the first."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, parse in parsers.items():
        try:
            values[name] = parse()
        except InvalidValue as error:
            errors.append(FieldError(name, error.message))
    if errors:
        raise ValidationFailed(errors)
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileChanges:
    """The profile fields a client asked to change; `UNSET` leaves a field as it is."""

    name: str | Unset = UNSET
    bio: str | Unset | None = UNSET
    contact: str | Unset | None = UNSET

    @classmethod
    def parse(
        cls,
        *,
        name: str | Unset = UNSET,
        bio: str | Unset | None = UNSET,
        contact: str | Unset | None = UNSET,
    ) -> "ProfileChanges":
        parsers: dict[str, Callable[[], Any]] = {}
        if name is not UNSET:
            parsers["name"] = lambda: parse_name(name)
        if bio is not UNSET:
            parsers["bio"] = lambda: parse_bio(bio)
        if contact is not UNSET:
            parsers["contact"] = lambda: parse_contact(contact)
        if not parsers:
            raise ValidationFailed([], "Provide at least one of name, bio, contact")
        return cls(**collect_field_errors(parsers))

    def as_dict(self) -> dict[str, str | None]:
        """Only the fields to change, by name."""
        changes = {"name": self.name, "bio": self.bio, "contact": self.contact}
        return {key: value for key, value in changes.items() if not isinstance(value, Unset)}


@dataclass(slots=True, kw_only=True)
class User:
    id: int
    name: str
    email: Email
    password_hash: PasswordHash
    bio: str | None = None
    contact: str | None = None
    created_at: datetime
    email_verified: bool = False
    """Whether the owner of the email has shown they read it (a token sent there came back).
    New and adopted accounts start unverified."""
    mfa_enabled: bool = False
    """Whether login asks for a second factor after the password. Carried on the user row so
    that a login without one reads nothing more."""

    def with_changes(self, changes: ProfileChanges) -> "User":
        return replace(
            self,
            name=self.name if isinstance(changes.name, Unset) else changes.name,
            bio=self.bio if isinstance(changes.bio, Unset) else changes.bio,
            contact=self.contact if isinstance(changes.contact, Unset) else changes.contact,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewUser:
    """A user about to be stored; the repository gives it an id."""

    name: str
    email: Email
    password_hash: PasswordHash
    created_at: datetime
