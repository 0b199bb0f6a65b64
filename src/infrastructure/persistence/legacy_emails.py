"""Emails the original service stored as they were typed, brought to the form the service looks
them up in (trimmed and lower-cased), for the migration that adopts its database.

Before that migration, MySQL's case-insensitive collation kept `Ada@Example.com` and
`ada@example.com` from coexisting; after it, emails compare byte for byte. A legacy row left
as typed could then never log in, and a new registration of the same address in lower case
would be accepted beside it. So the rows are normalized first, and the migration stops,
changing nothing, while two rows would become one address: only an operator can tell which
account is the real one.
"""

import logging
from collections import defaultdict

from sqlalchemy import Connection, column, select, table, update

from domain.users import normalized_email

logger = logging.getLogger("authsvc.migrations")

# The table as the migration finds it, not as tables.py declares it at head.
_users = table("users", column("id"), column("email"))


class LegacyEmailsCollide(Exception):
    """Stored emails that would become one address; the message lists them by id."""

    def __init__(self, collisions: dict[str, list[tuple[int, str]]]) -> None:
        self.collisions = collisions
        listed = "; ".join(
            f"{email!r} from ids " + ", ".join(f"{id_} ({stored!r})" for id_, stored in rows)
            for email, rows in sorted(collisions.items())
        )
        super().__init__(
            "emails of several users become one address once trimmed and lower-cased: "
            f"{listed}. Change or delete all but one of each, then run `authsvc db upgrade` again"
        )


def normalize_legacy_emails(connection: Connection) -> None:
    """Rewrites every email that is not trimmed and lower-cased, logging each with its user's
    id. Raises LegacyEmailsCollide, before writing anything, if two rows would end up with one
    email."""
    by_normalized: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for id_, email in connection.execute(select(_users.c.id, _users.c.email).order_by(_users.c.id)):
        if email is not None:
            by_normalized[normalized_email(email)].append((id_, email))
    collisions = {email: rows for email, rows in by_normalized.items() if len(rows) > 1}
    if collisions:
        raise LegacyEmailsCollide(collisions)
    changes = [
        (id_, stored, email)
        for email, rows in by_normalized.items()
        for id_, stored in rows
        if stored != email
    ]
    for id_, stored, email in changes:
        connection.execute(update(_users).where(_users.c.id == id_).values(email=email))
        logger.warning("user %s: email %r normalized to %r", id_, stored, email)
