"""The JSON shapes of the HTTP API: request bodies, the User object and the response envelope."""

from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from application.ports import TokenPair
from domain.users import User

T = TypeVar("T")


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Unknown fields are refused, so a client can never smuggle in `id` or `password`."""


class RegisterRequest(RequestBody):
    name: str
    email: str
    password: str


class LoginRequest(RequestBody):
    email: str
    password: str


class RefreshRequest(RequestBody):
    refresh_token: str | None = None


class UpdateProfileRequest(RequestBody):
    name: str | msgspec.UnsetType = msgspec.UNSET
    bio: str | None | msgspec.UnsetType = msgspec.UNSET
    contact: str | None | msgspec.UnsetType = msgspec.UNSET


class UserView(msgspec.Struct, rename="camel"):
    id: int
    name: str
    email: str
    bio: str | None
    contact: str | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserView":
        return cls(
            id=user.id,
            name=user.name,
            email=user.email.value,
            bio=user.bio,
            contact=user.contact,
            created_at=user.created_at.replace(microsecond=0),
        )


class TokensView(msgspec.Struct, rename="camel", omit_defaults=True):
    """Omitted entirely when tokens travel in cookies only (TOKENS_IN_BODY=false)."""

    access_token: str | None = None
    refresh_token: str | None = None

    @classmethod
    def of(cls, tokens: TokenPair) -> "TokensView":
        return cls(access_token=tokens.access_token, refresh_token=tokens.refresh_token)


class LoginView(msgspec.Struct, rename="camel", omit_defaults=True):
    user: UserView
    access_token: str | None = None
    refresh_token: str | None = None


class FieldErrorView(msgspec.Struct):
    field: str
    message: str


class Envelope(msgspec.Struct, Generic[T], rename="camel"):
    status_code: int
    data: T
    message: str
    success: bool = True


class ErrorEnvelope(msgspec.Struct, rename="camel"):
    status_code: int
    message: str
    errors: list[FieldErrorView]
    data: None = None
    success: bool = False
