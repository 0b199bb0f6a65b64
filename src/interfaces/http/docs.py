"""Where the OpenAPI document is served: /schema/openapi.json always, and with API_DOCS an
interactive reference at /schema that loads one pinned script and nothing else."""

from html import escape
from typing import Any, Final

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.enums import MediaType, OpenAPIMediaType
from litestar.openapi.plugins import OpenAPIRenderPlugin

DOCS_PATH: Final = "/schema"
REDOC_URL: Final = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js"
REDOC_INTEGRITY: Final = "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5"
"""SHA-384 of that file as npm publishes it (`npm pack redoc@2.5.4`, bundles/): a browser runs
no other script from that address. A new Redoc version needs both lines changed together."""

REFERENCE_PAGE_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        f"script-src {REDOC_URL}",
        "connect-src 'self'",  # the document, from /schema/openapi.json
        "worker-src blob:",  # Redoc's search index runs in a worker made from a blob
        "style-src 'unsafe-inline'",  # Redoc writes its styles into <style> elements
        "img-src data:",  # and draws its icons as data: URLs
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""The page's Content-Security-Policy. The page itself holds no script: the pinned Redoc
finds the <redoc> element and fetches the document it names."""
DOCUMENT_POLICY: Final = "default-src 'none'; frame-ancestors 'none'"


class OpenAPIDocument(OpenAPIRenderPlugin):
    """The document as JSON, at /schema/openapi.json."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json", media_type=OpenAPIMediaType.OPENAPI_JSON)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, openapi_schema)


class ReferencePage(OpenAPIRenderPlugin):
    """Redoc's reading of the document, at /schema."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema["info"]["title"]))
        document_url = escape(self.get_openapi_json_route(request))
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title></head>\n"
            f'<body><redoc spec-url="{document_url}"></redoc>\n'
            f'<script src="{REDOC_URL}" integrity="{REDOC_INTEGRITY}" crossorigin="anonymous">'
            "</script></body></html>\n"
        ).encode()


def documentation(*, reference_page: bool) -> tuple[list[OpenAPIRenderPlugin], Router]:
    """The render plugins and the router that serves them, for Litestar's `OpenAPIConfig`."""
    plugins: list[OpenAPIRenderPlugin] = [OpenAPIDocument()]
    if reference_page:
        plugins.insert(0, ReferencePage())
    policy = REFERENCE_PAGE_POLICY if reference_page else DOCUMENT_POLICY
    router = Router(
        DOCS_PATH,
        route_handlers=[],
        include_in_schema=False,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=policy)],
    )
    return plugins, router
