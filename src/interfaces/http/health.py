"""Liveness and readiness probes, in the same envelope as the rest of the API."""

from typing import Any

from litestar import Controller, Request, get

from domain.errors import StorageUnavailable
from interfaces.http.openapi import error_responses
from interfaces.http.schemas import Envelope
from interfaces.http.wiring import wiring


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/live")
    async def live(self) -> Envelope[None]:
        return Envelope(200, None, "Alive")

    @get("/ready", responses=error_responses(503))
    async def ready(self, request: Request[Any, Any, Any]) -> Envelope[None]:
        if not await wiring(request).database_probe():
            raise StorageUnavailable("Database unreachable")
        return Envelope(200, None, "Ready")
