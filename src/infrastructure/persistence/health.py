"""Readiness: can the database answer a trivial query right now, through the connections the
requests use?"""

import asyncio

from domain.errors import StorageUnavailable
from infrastructure.persistence.database import Database


class DatabaseProbe:
    def __init__(self, database: Database, timeout_seconds: float = 2.0) -> None:
        self._database = database
        self._timeout = timeout_seconds

    async def __call__(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                await self._database.ping()
        except (StorageUnavailable, TimeoutError):
            return False
        return True
