"""The JSON shapes of the HTTP API: request bodies, the User object and the response envelope."""

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, HTTPException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.typing import FieldDefinition

from application.ports import TokenPair
from application.second_factor import SecondFactorStatus, TotpSetup
from domain.errors import FieldError, ValidationFailed
from domain.second_factor import CODE_MAX_LENGTH
from domain.sessions import Session
from domain.users import (
    BIO_MAX_LENGTH,
    CONTACT_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    User,
)

T = TypeVar("T")
NOT_JSON = "Body is not valid JSON (UTF-8)"


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Unknown fields are refused, so a client can never smuggle in `id` or `password`."""

    min_fields: ClassVar[int] = 0
    """How many of its fields a body must hold at least, as the use case requires."""

    @classmethod
    def field_errors(cls, payload: object) -> list[FieldError]:
        """Every missing, unknown or mistyped field of `payload` read as this body; msgspec
        itself stops at the first."""
        if not isinstance(payload, dict):
            return [FieldError("body", "must be a JSON object")]
        fields = {field.encode_name: field for field in msgspec.structs.fields(cls)}
        errors = []
        for name, field in fields.items():
            if name not in payload:
                if field.required:
                    errors.append(FieldError(name, "is required"))
                continue
            try:
                msgspec.convert(payload[name], field.type, strict=False)
            except msgspec.ValidationError as error:
                errors.append(FieldError(name, str(error)))
        errors.extend(FieldError(key, "is not allowed") for key in payload if key not in fields)
        return errors


async def check_request_body(request: Request[Any, Any, Any]) -> None:
    """Run by the `before_request` hook, before the handler authenticates the caller: a body
    that is not `application/json` is a 415, and a missing one a 400 naming the body, when
    the handler's `data` is a `RequestBody`. Decoding is `JsonRequest.json`'s."""
    data_field = request.route_handler.parsed_data_field
    if data_field is None or _request_body_type(data_field) is None:
        return
    if not await request.body():
        if data_field.is_optional:
            return
        raise ValidationFailed([FieldError("body", "a JSON object is required")])
    media_type, _ = request.content_type
    if media_type != "application/json":
        # Also what keeps an HTML form (text/plain, a field named like JSON) off the API.
        raise HTTPException(
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="Content-Type must be application/json",
        )


class JsonRequest(Request[Any, Any, Any]):
    """The one place a body is decoded: straight into the handler's `RequestBody`, which
    Litestar then takes as it is. A body that does not fit fails with every invalid field
    named, not just the first one msgspec meets.

    The typed decode stops at the first value of the wrong shape, so deep nesting is refused
    before it is walked; only the field-by-field report of a failed body decodes it again.
    Litestar's own way, an untyped decode and a conversion, took 2-4 us for an update-profile
    body against 0.4-1.3 us (`bench/http_edge.py`)."""

    async def json(self) -> Any:
        data_field = self.route_handler.parsed_data_field
        body_type = _request_body_type(data_field) if data_field else None
        if data_field is None or body_type is None:
            return await super().json()
        body = await self.body()
        try:
            return msgspec.json.decode(
                body, type=body_type | None if data_field.is_optional else body_type
            )
        except msgspec.ValidationError as error:
            mismatch = error
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            raise ClientException(NOT_JSON) from error
        try:
            payload = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            raise ClientException(NOT_JSON) from error
        except RecursionError as error:
            raise ClientException("Body nests too deeply") from error
        errors = body_type.field_errors(payload) or [FieldError("body", str(mismatch))]
        raise ValidationFailed(errors)


def _request_body_type(data_field: FieldDefinition) -> type[RequestBody] | None:
    """The `RequestBody` a handler's `data` is, or may be (`JSONBody[RefreshRequest | None]`)."""
    for candidate in (data_field, *data_field.inner_types):
        annotation = candidate.annotation
        if isinstance(annotation, type) and issubclass(annotation, RequestBody):
            return annotation
    return None


def documented(**keywords: object) -> msgspec.Meta:
    """JSON Schema keywords that the OpenAPI document states for a field. msgspec does not
    enforce them: the domain does, after trimming, with its own messages."""
    return msgspec.Meta(extra_json_schema=keywords)


# Where JSON Schema cannot say a rule of the domain (lengths after trimming, which characters
# an address may hold), the document says something stricter: a request valid by the document
# is valid, though not the reverse.
#
# What `domain.users.is_unsafe_to_display` refuses in a name: controls, line and paragraph
# separators, bidi embeddings, overrides and isolates, lone surrogates.
_UNSAFE = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ADDRESS_PART = r"[\x21-\x2d\x2f-\x3f\x41-\x7e]+"  # printable ASCII but for '.' and '@'
Name = Annotated[
    str,
    documented(
        maxLength=NAME_MAX_LENGTH,
        pattern=f"^[^{_UNSAFE}]*[^\\s{_UNSAFE}][^{_UNSAFE}]*$",
        description="Trimmed; no control characters or bidi overrides.",
    ),
]
EmailAddress = Annotated[
    str,
    documented(
        maxLength=EMAIL_MAX_LENGTH,
        pattern=f"^{_ADDRESS_PART}(\\.{_ADDRESS_PART})*@{_ADDRESS_PART}(\\.{_ADDRESS_PART})+$",
        description="Trimmed and lower-cased before use.",
    ),
]
NewPassword = Annotated[
    str,
    documented(description="At least PASSWORD_MIN_LENGTH characters, not a common password."),
]
Bio = Annotated[str, documented(maxLength=BIO_MAX_LENGTH)]
Contact = Annotated[str, documented(maxLength=CONTACT_MAX_LENGTH, pattern=r"^[0-9 +()\-]*$")]


class RegisterRequest(RequestBody, frozen=True):
    name: Name
    email: EmailAddress
    password: NewPassword


class LoginRequest(RequestBody, frozen=True):
    email: EmailAddress
    password: str


class RefreshRequest(RequestBody, frozen=True):
    refresh_token: str | None = None


class ChangePasswordRequest(RequestBody, frozen=True):
    current_password: str
    new_password: NewPassword


class ForgotPasswordRequest(RequestBody, frozen=True):
    email: EmailAddress


class ResetPasswordRequest(RequestBody, frozen=True):
    token: str
    new_password: NewPassword


class TokenRequest(RequestBody, frozen=True):
    """The token of a mailed link, which the front end's page read from its query."""

    token: str


class ChangeEmailRequest(RequestBody, frozen=True):
    password: str
    new_email: EmailAddress


Code = Annotated[
    str,
    documented(
        maxLength=CODE_MAX_LENGTH,
        description="The 6-digit code of the authenticator app, or where accepted a recovery"
        " code (spaces and dashes are ignored).",
    ),
]


class PasswordRequest(RequestBody, frozen=True):
    password: str


class CodeRequest(RequestBody, frozen=True):
    code: Code


class DisableTotpRequest(RequestBody, frozen=True):
    password: str
    code: Code


class MfaLoginRequest(RequestBody, frozen=True):
    mfa_token: str
    code: Code


class UpdateProfileRequest(RequestBody, frozen=True):
    min_fields: ClassVar[int] = 1

    name: Name | msgspec.UnsetType = msgspec.UNSET
    bio: Bio | msgspec.UnsetType | None = msgspec.UNSET
    contact: Contact | msgspec.UnsetType | None = msgspec.UNSET


REQUEST_BODIES = (
    RegisterRequest,
    LoginRequest,
    RefreshRequest,
    ChangePasswordRequest,
    UpdateProfileRequest,
    ForgotPasswordRequest,
    ResetPasswordRequest,
    TokenRequest,
    ChangeEmailRequest,
    PasswordRequest,
    CodeRequest,
    DisableTotpRequest,
    MfaLoginRequest,
)
NEW_PASSWORDS = (
    (RegisterRequest, "password"),
    (ChangePasswordRequest, "newPassword"),
    (ResetPasswordRequest, "newPassword"),
)
"""Where a new password is chosen: the document states the configured policy's lengths."""


class UserView(msgspec.Struct, rename="camel"):
    id: int
    name: str
    email: str
    bio: str | None
    contact: str | None
    created_at: datetime
    email_verified: bool

    @classmethod
    def of(cls, user: User) -> "UserView":
        return cls(
            id=user.id,
            name=user.name,
            email=user.email.value,
            bio=user.bio,
            contact=user.contact,
            created_at=user.created_at.replace(microsecond=0),
            email_verified=user.email_verified,
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


class MfaChallengeView(msgspec.Struct, rename="camel"):
    """A right password of a user with a second factor: the login goes on at /users/login/mfa."""

    mfa_token: str
    mfa_required: bool = True


class MfaStatusView(msgspec.Struct, rename="camel"):
    totp: bool
    recovery_codes_left: int

    @classmethod
    def of(cls, status: SecondFactorStatus) -> "MfaStatusView":
        return cls(totp=status.totp, recovery_codes_left=status.recovery_codes_left)


class TotpSetupView(msgspec.Struct, rename="camel"):
    secret: str
    otpauth_uri: str
    qr_svg: str

    @classmethod
    def of(cls, setup: TotpSetup) -> "TotpSetupView":
        return cls(secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_svg=setup.qr_svg)


class RecoveryCodesView(msgspec.Struct, rename="camel"):
    recovery_codes: list[str]


class SessionView(msgspec.Struct, rename="camel"):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool
    amr: str
    """How the session was established: `pwd`, or `pwd,otp` (a second factor too)."""

    @classmethod
    def of(cls, session: Session, current_session_id: str) -> "SessionView":
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            ip=session.ip,
            current=session.id == current_session_id,
            amr=session.amr,
        )


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
