"""What the OpenAPI document says beyond the handlers' signatures: the errors each operation can
answer with, how callers authenticate, and what Litestar cannot infer about bodies and 429s."""

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.params import BodyKwarg

from domain.users import PasswordPolicy
from interfaces.http.auth import ACCESS_COOKIE, REFRESH_COOKIE
from interfaces.http.schemas import NEW_PASSWORDS, REQUEST_BODIES, ErrorEnvelope

ACCESS_COOKIE_SCHEME = "accessTokenCookie"
ACCESS_BEARER_SCHEME = "accessTokenBearer"
REFRESH_COOKIE_SCHEME = "refreshTokenCookie"

SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    ACCESS_COOKIE_SCHEME: SecurityScheme(
        type="apiKey",
        name=ACCESS_COOKIE,
        security_scheme_in="cookie",
        description="The access token, as set by login and refresh; read before the header.",
    ),
    ACCESS_BEARER_SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="The access token, for API clients that keep no cookies.",
    ),
    REFRESH_COOKIE_SCHEME: SecurityScheme(
        type="apiKey",
        name=REFRESH_COOKIE,
        security_scheme_in="cookie",
        description="The refresh token, as set by login and refresh; or in the JSON body.",
    ),
}

ACCESS_TOKEN: list[SecurityRequirement] = [{ACCESS_COOKIE_SCHEME: []}, {ACCESS_BEARER_SCHEME: []}]
# The refresh token may come in the JSON body instead, which a security scheme cannot say.
REFRESH_TOKEN: list[SecurityRequirement] = [{REFRESH_COOKIE_SCHEME: []}, {}]
ACCESS_OR_REFRESH_TOKEN: list[SecurityRequirement] = [*ACCESS_TOKEN, *REFRESH_TOKEN]

_ERROR_DESCRIPTIONS = {
    400: "Invalid request: `errors` names every invalid field.",
    401: "Missing, wrong, expired or revoked credentials.",
    403: "Cross-site request refused: an `Origin` that is not allowed, or"
    " `Sec-Fetch-Site: cross-site` without one. At login, also `Email not verified` when"
    " REQUIRE_EMAIL_VERIFICATION is on and the password was right.",
    404: "Not found, or not the caller's.",
    409: "Email already registered (by another account), or two-step verification already on.",
    413: "Body larger than 16 KiB.",
    415: "Body not sent as `Content-Type: application/json`.",
    429: "Too many attempts; `Retry-After` says when to try again.",
    503: "Database unreachable, or (for password hashing) the hash queue full:"
    " `Retry-After` may say when to try again.",
}

RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
    description="Seconds to wait before trying again.",
    required=True,
)


def example_body(summary: str, value: dict[str, object]) -> BodyKwarg:
    """A JSON request body, with the example the document shows for it."""
    return BodyKwarg(
        media_type=RequestEncodingType.JSON, examples=[Example(summary=summary, value=value)]
    )


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error envelope under each of `statuses`, for a handler's `responses`."""
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope,
            generate_examples=False,
            description=_ERROR_DESCRIPTIONS[status],
        )
        for status in statuses
    }


@dataclass
class DocumentedOperation(Operation):
    """An operation as Litestar builds it, plus two facts it leaves out: a body typed
    `X | None` may be left out entirely, and a 429 carries `Retry-After`."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody) and _admits_null(self.request_body):
            self.request_body.required = False
        too_many = (self.responses or {}).get("429")
        if isinstance(too_many, OpenAPIResponse):
            too_many.headers = {"Retry-After": RETRY_AFTER}


def _admits_null(body: RequestBody) -> bool:
    return any(
        isinstance(media.schema, Schema)
        and any(
            isinstance(option, Schema) and option.type == OpenAPIType.NULL
            for option in media.schema.one_of or ()
        )
        for media in body.content.values()
    )


def document_request_bodies(document: OpenAPI, password_policy: PasswordPolicy) -> None:
    """Says in `document`, once at start-up, what Litestar's schemas of the request bodies leave
    out: that unknown fields are refused (`additionalProperties: false`), how many fields a
    body needs at least, each field's `documented` keywords, and the configured password
    policy's lengths where a new password is chosen."""
    _, keywords_by_body = msgspec.json.schema_components(REQUEST_BODIES)
    for body in REQUEST_BODIES:
        schema = _component(document, body.__name__)
        schema.additional_properties = False
        schema.min_properties = body.min_fields or None
        for name, keywords in keywords_by_body[body.__name__]["properties"].items():
            _add_keywords(_property(schema, name), _string_keywords(keywords))
    for body, name in NEW_PASSWORDS:
        new_password = _property(_component(document, body.__name__), name)
        new_password.min_length = password_policy.min_length
        new_password.max_length = password_policy.max_length
        if password_policy.max_bytes is not None:
            # More characters than bytes are always more bytes.
            new_password.max_length = min(password_policy.max_length, password_policy.max_bytes)
            new_password.description = (
                f"{new_password.description} At most {password_policy.max_bytes} bytes of UTF-8."
            )


def _string_keywords(keywords: dict[str, Any]) -> dict[str, Any]:
    """The keywords msgspec gives a string field, `null` or not."""
    options = keywords.get("anyOf", [keywords])
    return next(option for option in options if option.get("type") == "string")


def _component(document: OpenAPI, name: str) -> Schema:
    schema = (document.components.schemas or {})[name]
    assert isinstance(schema, Schema)
    return schema


def _property(schema: Schema, name: str) -> Schema:
    """Litestar's schema of a string property, `null` or not."""
    field = (schema.properties or {})[name]
    options = field.one_of if isinstance(field, Schema) and field.one_of else [field]
    return next(
        option
        for option in options
        if isinstance(option, Schema) and option.type == OpenAPIType.STRING
    )


_KEYWORD_ATTRIBUTES = {
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "description": "description",
}


def _add_keywords(schema: Schema, keywords: dict[str, Any]) -> None:
    for keyword, attribute in _KEYWORD_ATTRIBUTES.items():
        if keyword in keywords:
            setattr(schema, attribute, keywords[keyword])
