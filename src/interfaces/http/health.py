"""Liveness and readiness probes, in the same envelope as the rest of the API."""

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from infrastructure.persistence.health import DatabaseProbe
from interfaces.http.schemas import Envelope


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/live")
    async def live(self) -> Envelope[None]:
        return Envelope(200, None, "Alive")

    @get("/ready")
    async def ready(
        self, database_probe: NamedDependency[DatabaseProbe]
    ) -> Response[Envelope[None]]:
        if await database_probe():
            return Response(Envelope(200, None, "Ready"))
        return Response(Envelope(503, None, "Database unreachable", success=False), status_code=503)
