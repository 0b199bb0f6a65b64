"""Session use cases: a user's view of where they are logged in, and housekeeping."""

from dataclasses import dataclass

from application.ports import Clock, SecurityEvent, SecurityLog, UnitOfWorkFactory
from domain.errors import SessionNotFound
from domain.sessions import Session


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSessionsQuery:
    user_id: int


class ListSessions:
    """The user's active sessions, most recently used first."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, query: ListSessionsQuery) -> list[Session]:
        async with self._uow() as uow:
            return await uow.sessions.list_active(query.user_id, self._clock.now())


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeSessionCommand:
    user_id: int
    session_id: str
    ip: str | None = None


class RevokeSession:
    """Ends one of the user's own active sessions; its tokens stop working at once.
    Another user's session is reported exactly like an unknown one."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, security_log: SecurityLog) -> None:
        self._uow = uow
        self._clock = clock
        self._security_log = security_log

    async def __call__(self, command: RevokeSessionCommand) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(command.session_id)
            if session is None or session.user_id != command.user_id or not session.is_active(now):
                raise SessionNotFound
            await uow.sessions.revoke(session.id, now)
        self._security_log.record(
            SecurityEvent(
                name="session_revoked",
                user_id=command.user_id,
                session_id=command.session_id,
                ip=command.ip,
            )
        )


class PurgeExpiredSessions:
    """Deletes expired and revoked sessions, and the expired logins that waited for a second
    factor in vain; a job for cron or a worker. Returns how many sessions."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self) -> int:
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.mfa_challenges.purge(now)
            return await uow.sessions.purge(now)
