"""Property-based fuzzing of every operation against the service's own OpenAPI document.

Schemathesis generates requests from the document, valid and invalid ones, and holds every
answer to it: never a 5xx, only documented status codes, content types and headers, bodies
matching their schemas, schema-invalid requests refused, protected operations refusing
missing or forged credentials. Every check runs except two:

- `positive_data_acceptance`: the document gives shapes, while the domain's rules (email
  syntax, password policy, trimmed lengths, unique emails) refuse many requests that fit them,
  with a 400 as documented.
- `allow_header_conformance`: Litestar 2's automatic OPTIONS answer lists the methods of only
  one handler where two share a path (`GET` and `DELETE /users/profile`); fixed in Litestar 3.

Beside the generated cases, every operation with a body gets the bytes that generators do not
make: invalid UTF-8 inside a JSON string, and nesting deeper than the decoder takes. Both are a
400 in the envelope.

The app runs as a server would, lifespan included, in schemathesis' own event loop thread, on
a fresh SQLite database. Every case carries the bearer token of a session of its own, so that
a case ending its session (logout, account deletion, revocation) leaves the next one
unharmed; the checks' own probes show that protected operations refuse a missing or forged
token.
"""

import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import allow_header_conformance, positive_data_acceptance
from schemathesis.python.asgi import shutdown_lifespans

from infrastructure.container import Container
from infrastructure.settings import Settings
from interfaces.http.app import create_app
from tests.databases import migrated

MAX_EXAMPLES_PER_OPERATION = 25
# Not worth holding the service to, each for the reason in the module's docstring.
EXCLUDED_CHECKS = [positive_data_acceptance, allow_header_conformance]
NAME = "Fuzz Tester"
EMAIL = "fuzz@example.com"
PASSWORD = "correct horse battery staple"

_database_directory = tempfile.TemporaryDirectory(prefix="authsvc-fuzz-")
DATABASE_URL = f"sqlite+aiosqlite:///{Path(_database_directory.name) / 'authsvc.db'}"

# Built at import: schemathesis makes one test per operation at collection, from the
# document, and the probes its checks send go to the schema's own app.
app = create_app(
    Container(
        settings=Settings.from_env(
            {
                "DATABASE_URL": DATABASE_URL,
                "ACCESS_TOKEN_SECRET": secrets.token_urlsafe(36),
                "REFRESH_TOKEN_SECRET": secrets.token_urlsafe(36),
                "DATA_ENCRYPTION_KEY": secrets.token_urlsafe(32),
                "BCRYPT_ROUNDS": "4",
                "AUTH_RATE_LIMIT": "100000/minute",
                "LOGIN_MAX_FAILURES": "100000",
                "LOG_LEVEL": "WARNING",
            },
            env_file=None,
        )
    )
)
# The document as /schema/openapi.json serves it.
schema = schemathesis.openapi.from_dict(app.openapi_schema.to_schema())
schema.app = app
# Credentials come from the signed-in account below, not from random cookies and headers.
schema.config.generation.update(with_security_parameters=False)
# An invalid body can also be too large: refused with 413 before it is read, as documented.
negative_data_rejection = schema.config.checks.negative_data_rejection
negative_data_rejection.expected_statuses = [*negative_data_rejection.expected_statuses, "413"]


@pytest.fixture(scope="module")
def migrated_database() -> Iterator[None]:
    """The database at head for the whole run; the app shut down (its engine closed) before
    the file goes."""
    asyncio.run(migrated(DATABASE_URL))
    try:
        yield
    finally:
        shutdown_lifespans()
        _database_directory.cleanup()


def signed_in(case: schemathesis.Case) -> dict[str, str]:
    """The header of a new session of the account, registered again if a case deleted it.
    Both answers are held to the document too: 201 or 409, then 200."""
    operations = case.operation.schema
    operations["/users/register"]["POST"].Case(
        body={"name": NAME, "email": EMAIL, "password": PASSWORD}
    ).call_and_validate(excluded_checks=EXCLUDED_CHECKS)
    response = (
        operations["/users/login"]["POST"]
        .Case(body={"email": EMAIL, "password": PASSWORD})
        .call_and_validate(excluded_checks=EXCLUDED_CHECKS)
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['accessToken']}"}


def test_the_document_is_valid_openapi() -> None:
    schema.validate()


@pytest.mark.usefixtures("migrated_database")
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None)
def test_every_answer_is_one_the_document_gives(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=signed_in(case), excluded_checks=EXCLUDED_CHECKS)


BODY_OPERATIONS = [result.ok() for result in schema.get_all_operations() if result.ok().body]
DEEPEST = 8000
"""Nested arrays as deep as a 16 KiB body holds."""
HOSTILE_BODIES = {
    # JSON strings holding bytes that are not UTF-8, in a field and beside an unknown one.
    "invalid-utf-8": b'{"email": "ada\xff\xfe@example.com", "password": "x\xc3"}',
    "invalid-utf-8-after-an-unknown-field": b'{"x": 1, "email": "\xff"}',
    # Nesting deeper than the decoder's recursion limit: the body, a field, an unknown field.
    "nested-arrays": b"[" * 990 + b"]" * 990,
    "nested-arrays-16-kib": b"[" * DEEPEST + b"]" * DEEPEST,
    "nested-in-a-field": b'{"email": ' + b"[" * 990 + b"]" * 990 + b"}",
    "nested-in-an-unknown-field": b'{"x": ' + b"[" * DEEPEST + b"]" * DEEPEST + b"}",
}


@pytest.mark.usefixtures("migrated_database")
@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=lambda operation: operation.label)
def test_hostile_bytes_are_a_400_in_the_envelope(
    operation: schemathesis.APIOperation, body: bytes
) -> None:
    case = operation.Case(media_type="application/json")
    headers = signed_in(case) | {"Content-Type": "application/json"}

    response = case.call(headers=headers, data=body)

    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)
