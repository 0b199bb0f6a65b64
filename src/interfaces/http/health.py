"""Liveness and readiness probes, in the same envelope as the rest of the API."""

from litestar import Controller, get
from litestar.di import NamedDependency

from domain.errors import StorageUnavailable
from infrastructure.persistence.health import DatabaseProbe
from interfaces.http.openapi import error_responses
from interfaces.http.schemas import Envelope


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/live")
    async def live(self) -> Envelope[None]:
        return Envelope(200, None, "Alive")

    @get("/ready", responses=error_responses(503))
    async def ready(self, database_probe: NamedDependency[DatabaseProbe]) -> Envelope[None]:
        if not await database_probe():
            raise StorageUnavailable("Database unreachable")
        return Envelope(200, None, "Ready")
