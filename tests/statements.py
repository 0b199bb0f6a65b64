"""What the SQL repositories send to the database, statement by statement, for the tests that
count them.

`record_statements(monkeypatch)` wraps, on each engine's unit of work, the methods that each
send one thing to the server: a statement (named as in statements.py, or by its SQL up to the
WHERE for one built on demand, such as a profile update), BEGIN or COMMIT. Every unit of work
of the process is recorded, the service's included, until the test ends.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from infrastructure.persistence import statements
from infrastructure.persistence.mysql import MySqlUnitOfWork
from infrastructure.persistence.sqlite import SqliteUnitOfWork
from infrastructure.persistence.statements import STATEMENTS, Statement

_NAMES = {
    id(value): name
    for name, value in vars(statements).items()
    if any(value is statement for statement in STATEMENTS)
}


def statement_name(statement: Statement) -> str:
    return _NAMES.get(id(statement)) or " ".join(str(statement).split(" WHERE ")[0].split())


def record_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The list each statement sent from now on is appended to, by name."""
    sent: list[str] = []

    def recording(
        original: Callable[..., Awaitable[Any]], name_of: Callable[..., str]
    ) -> Callable[..., Awaitable[Any]]:
        async def record(unit: object, *arguments: Any) -> Any:
            sent.append(name_of(*arguments))
            return await original(unit, *arguments)

        return record

    def by_statement(statement: Statement, _parameters: object) -> str:
        return statement_name(statement)

    def begin(_connection: object) -> str:
        return "BEGIN"

    def commit(_connection: object) -> str:
        return "COMMIT"

    names = {"_fetch_one": by_statement, "_fetch_all": by_statement, "_write": by_statement}
    names |= {"_begin": begin, "_commit": commit}
    for unit_class in (MySqlUnitOfWork, SqliteUnitOfWork):
        for method, name_of in names.items():
            original = getattr(unit_class, method)
            monkeypatch.setattr(unit_class, method, recording(original, name_of))
    return sent
