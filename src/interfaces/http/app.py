"""The Litestar application: routes, what handlers reach (wiring.py), error mapping."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from infrastructure.container import Container, delivering_mail, provided, running
from infrastructure.logs import configure_logging, flush_logs
from infrastructure.settings import Settings
from interfaces.http.access_log import access_log_middleware
from interfaces.http.auth import TokenCookies
from interfaces.http.controllers import SecondFactorController, UserController
from interfaces.http.docs import DOCS_PATH, documentation
from interfaces.http.errors import EXCEPTION_HANDLERS
from interfaces.http.guards import behind_proxies, check_request
from interfaces.http.health import HealthController
from interfaces.http.openapi import SECURITY_SCHEMES, document_request_bodies
from interfaces.http.schemas import JsonRequest
from interfaces.http.wiring import Wiring

MAX_BODY_BYTES = 16 * 1024


def create_app(container: Container) -> Litestar:
    settings: Settings = container.settings()
    cors = (
        CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "Authorization"],
        )
        if settings.cors_origins
        else None
    )

    render_plugins, docs_router = documentation(reference_page=settings.api_docs)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        """Opens the database and the rate limiter in the loop that serves the requests,
        resolves once what every handler reaches through `wiring(request)`, and delivers the
        mail the requests queue (each worker process runs a loop; their claims keep them
        from sending one message twice)."""
        async with running(container) as use_cases, delivering_mail(settings, use_cases):
            app.state.wiring = Wiring(
                use_cases=use_cases,
                database_probe=await provided(container.adapters.database_probe),
                token_cookies=TokenCookies(
                    secure=settings.cookie_secure,
                    samesite=settings.cookie_samesite,
                    device_max_age=int(settings.device_token_expiry.total_seconds()),
                ),
                tokens_in_body=settings.tokens_in_body,
            )
            yield
        # A server worker forked by multiprocessing ends without running atexit: the lines
        # still queued are written now.
        flush_logs()

    app = Litestar(
        route_handlers=[UserController, SecondFactorController, HealthController],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=MAX_BODY_BYTES,
        request_class=JsonRequest,
        before_request=check_request,
        cors_config=cors,
        state=State({"allowed_origins": frozenset(settings.cors_origins)}),
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="authsvc",
            version="0.1.0",
            path=DOCS_PATH,
            components=Components(security_schemes=SECURITY_SCHEMES),
            render_plugins=render_plugins,
            openapi_router=docs_router,
        ),
        logging_config=None,  # configure_logging owns the handlers
    )
    document_request_bodies(app.openapi_schema, container.adapters.password_policy())
    # Around the whole app rather than as Litestar middleware, which runs only once a route
    # matched: a 404 or 405 gets its access line and X-Request-ID too.
    app.asgi_handler = access_log_middleware(
        behind_proxies(app.asgi_handler, settings.trusted_proxies)
    )
    return app


def build_app() -> Litestar:
    """Entry point for ASGI servers (each worker process): settings from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(Container(settings=settings))
    # What start-up made (modules, the app, the container) lives as long as the process. Out
    # of the collector's sight, a full collection no longer walks its ~90,000 objects, a
    # 20-35 ms pause that every request in flight waited for. Garbage goes first, or it
    # would be kept for good.
    gc.collect()
    gc.freeze()
    return app
