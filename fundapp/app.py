"""The application shell: ``create_app()`` wires every domain's controllers into one Litestar app."""

from __future__ import annotations

import asyncio
import html
import importlib.resources
import logging
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import anyio.to_thread
from litestar import Litestar, Request, Response, Router, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath
from litestar.static_files import create_static_files_router
from sqlalchemy.orm import configure_mappers

from concessional import agency_pages as concessional_agency_pages
from concessional import api as concessional_api
from concessional import operation_pages as concessional_operation_pages
from concessional import pages as concessional_pages
from concessional import request_pages as concessional_request_pages
from fundapp.core import api as core_api
from fundapp.core import audit, edge, openapi_doc, web
from fundapp.core.clock import Clock
from fundapp.core.config import Settings, load_settings
from fundapp.core.db import Database, provide_db_session
from fundapp.core.errors import exception_handlers
from fundapp.core.logs import RequestIdMiddleware
from fundapp.core.metrics import Metrics, metrics_endpoint
from fundapp.core.security import AuthenticationMiddleware, PasswordHashing
from fundapp.core.timing import ServerTiming
from fundapp.core.unit import request_unit
from fundapp.core.web import pages as core_pages
from fundapp.jobs import Scheduler, jobs_for
from fundapp.models import import_all_models
from fundapp.wiring import register_hooks
from governance import api as governance_api
from governance import pages as governance_pages
from governance.service import open_due_fee_years
from ledger import api as ledger_api
from proposals import api as proposals_api
from reports import api as reports_api
from reports import pages as reports_pages
from reports import pdf_pool

VERSION = "0.1.0"

# Reachable without credentials: liveness, the API description and the login form itself.
PUBLIC_PATHS = [
    "^/health(/live|/ready)?$",
    "^/schema(/|$)",
    f"^{core_api.API_PREFIX}/auth/login$",
    "^/$",
    f"^{web.LOGIN_PATH}$",
    "^/language/",
    "^/static/",
]

# The API description's viewer: Swagger UI, whose files the pinned ``swagger-ui-py`` package ships. The
# service serves these few itself, so /schema works with no internet and loads nothing from a CDN.
SCHEMA_ASSETS_PATH = "/schema/swagger-ui"
SCHEMA_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


# The viewer's start, a file of its own so that the page runs no inline script (its Content-Security-Policy
# allows the service's scripts only): it reads the description from the page's JSON data block.
SCHEMA_INITIALIZER = b"""window.addEventListener("DOMContentLoaded", function () {
  var spec = JSON.parse(document.getElementById("openapi-description").textContent);
  window.ui = SwaggerUIBundle({
    spec: spec,
    dom_id: "#swagger-container",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
});
"""
GENERATED_SCHEMA_ASSETS = {"swagger-initializer.js": (SCHEMA_INITIALIZER, "text/javascript")}


@get(f"{SCHEMA_ASSETS_PATH}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def schema_asset(name: FromPath[str]) -> Response[bytes]:
    """One of the viewer's files (only those it needs), cached by the browser for a day."""
    if name in GENERATED_SCHEMA_ASSETS:
        body, media_type = GENERATED_SCHEMA_ASSETS[name]
        return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
    if name not in SCHEMA_ASSETS:
        raise NotFoundException()
    body = (importlib.resources.files("swagger_ui") / "static" / name).read_bytes()
    return Response(
        body,
        media_type=SCHEMA_ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


class SchemaViewer(SwaggerRenderPlugin):
    """Swagger UI with no inline script: the description is a JSON data block of the page (which no browser
    runs), read by the initialiser, a file the service serves."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        # "</" never appears inside the data block ("<\/" is the same JSON string).
        spec = self.render_json(request, openapi_schema).replace(b"</", b"<\\/")
        return b"".join(
            [
                b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'/>",
                f"<title>{title}</title>{self.favicon}".encode(),
                b"<meta name='viewport' content='width=device-width, initial-scale=1'>",
                f"<link href='{self.css_url}' rel='stylesheet'>".encode(),
                f"<script src='{self.js_url}'></script>".encode(),
                f"<script src='{self.standalone_preset_js_url}'></script>".encode(),
                f"<script src='{SCHEMA_ASSETS_PATH}/swagger-initializer.js'></script>".encode(),
                b"</head><body><div id='swagger-container'></div>",
                b"<script type='application/json' id='openapi-description'>",
                spec,
                b"</script></body></html>",
            ]
        )


def schema_viewer() -> SwaggerRenderPlugin:
    """Swagger UI at /schema, reading its scripts, stylesheet and icon from the service."""
    return SchemaViewer(
        path="/",
        js_url=f"{SCHEMA_ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{SCHEMA_ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{SCHEMA_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SCHEMA_ASSETS_PATH}/favicon-32x32.png'>",
    )


class DocumentedOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, whose document is completed once (fundapp/core/openapi_doc.py): every
    refusal as a problem, idempotent replays, the reports' bodies per format."""

    __slots__ = ()

    def provide_openapi_schema(self) -> dict[str, Any]:
        if not self._openapi_schema:
            from reports.schemas import ReportOut

            report = ReportOut.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
            self._openapi_schema = openapi_doc.complete(
                super().provide_openapi_schema(), is_public=is_public_path, report_schema=("ReportOut", report)
            )
        return self._openapi_schema


def is_public_path(path: str) -> bool:
    return any(re.search(pattern, path) for pattern in PUBLIC_PATHS)


def page_route_handlers() -> list[Any]:
    """The web pages: the public ones (sign-in, language), the stylesheet, and every signed-in page under
    one router whose guard checks each form's CSRF token (docs/pages.md)."""
    return [
        *core_pages.route_handlers,
        create_static_files_router(path="/static", directories=[web.STATIC_DIR], name="static"),
        Router(
            path="/",
            route_handlers=[
                *core_pages.page_handlers,
                *governance_pages.page_handlers,
                *concessional_pages.page_handlers,
                *concessional_request_pages.page_handlers,
                *concessional_operation_pages.page_handlers,
                *concessional_agency_pages.page_handlers,
                *reports_pages.page_handlers,
            ],
            guards=[web.page_csrf_guard],
        ),
    ]


def domain_route_handlers() -> list[Any]:
    """Every domain's controllers, in dependency order (core first)."""
    return [
        *core_api.route_handlers,
        *ledger_api.route_handlers,
        *governance_api.route_handlers,
        *proposals_api.route_handlers,
        *concessional_api.route_handlers,
        *reports_api.route_handlers,
    ]


def request_dependencies() -> dict[str, Provide]:
    """What a handler may take by name: the request's session and unit of work (session, settings, user,
    clock, audit), and each domain's services built from that unit."""
    return {
        "db_session": Provide(provide_db_session),
        "unit": Provide(request_unit, sync_to_thread=False),
        **ledger_api.dependencies,
        **governance_api.dependencies,
        **proposals_api.dependencies,
        **concessional_api.dependencies,
    }


log = logging.getLogger("fundapp.app")


class DailyWork:
    """Time-driven work that must not wait for a scheduler: on the first request of each day (the facility's
    clock) the fee notices of a year that has begun are posted (docs/governance.md, "Fee years"). One small
    read per process and day when nothing is due; a failure is logged, never the request's, and retried a
    minute later."""

    RETRY = timedelta(minutes=1)

    def __init__(self) -> None:
        self.done_on: date | None = None
        self.retry_at: datetime | None = None
        self.lock = asyncio.Lock()

    async def __call__(self, app: Litestar) -> None:
        now: datetime = app.state.clock.now()
        if self.done_on == now.date() or (self.retry_at is not None and now < self.retry_at):
            return
        async with self.lock:
            if self.done_on == now.date():
                return
            try:
                years = await open_due_fee_years(app.state.db, app.state.settings, now)
            except Exception:  # the request goes on; the work is retried
                log.exception("opening the fee years failed; retrying in a minute")
                self.retry_at = now + self.RETRY
                return
            if years:
                log.info("fee years opened: %s", ", ".join(map(str, years)))
            self.done_on, self.retry_at = now.date(), None


async def before_request(request: Request[Any, Any, Any]) -> None:
    await core_api.refuse_nul_in_parameters(request)
    await request.app.state.daily_work(request.app)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    extra_route_handlers: Sequence[Any] = (),
) -> Litestar:
    """The service: the routes, middleware and schema built from ``settings``' :func:`shape_of`, then bound to
    ``settings`` and ``clock`` (:func:`bind`)."""
    settings = settings or load_settings()
    app = build_app(settings, extra_route_handlers)
    bind(app, settings, clock or Clock())
    return app


def shape_of(settings: Settings) -> tuple[Any, ...]:
    """The settings that :func:`build_app` builds into the routes, middleware and API description. Every other
    setting is read at run time from ``app.state.settings``."""
    return (
        settings.session_cookie_name,
        tuple(settings.cors_allowed_origins),
        settings.max_request_body_bytes,
        settings.is_production,
    )


def bind(app: Litestar, settings: Settings, clock: Clock) -> None:
    """What one run of the app uses: its settings (the database among them, opened by the lifespan at start),
    its clock, its metrics, the day's work and the password hashing. An app built for settings of the same
    :func:`shape_of` can be bound again between runs (the tests build one app per shape and process: building
    the routes costs more than most tests)."""
    if shape_of(settings) != app.state.shape:
        raise ValueError("these settings need an app of their own (create_app): they change its routes or middleware")
    audit.use_chain_key(settings.chain_key_bytes)
    app.state.settings = settings
    app.state.clock = clock
    app.state.metrics = Metrics()
    app.state.daily_work = DailyWork()
    app.state.hashing = PasswordHashing(settings)


def build_app(settings: Settings, extra_route_handlers: Sequence[Any] = ()) -> Litestar:
    register_hooks()
    # Every table's mapper is configured before the first request: a service that builds a record without the
    # ORM (model_construct, on the write path) must never be the first to touch a mapper (it fails then).
    import_all_models()
    configure_mappers()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        settings: Settings = app.state.settings
        database = Database(settings.database_url, lock_timeout_s=settings.database_lock_timeout_seconds)
        app.state.db = database
        # Time-driven work and notifications (docs/operations.md): each serving process runs the scheduler,
        # which is safe with several (every job runs once).
        scheduler = Scheduler(jobs_for(database, settings, app.state.clock)) if settings.scheduler else None
        if scheduler is not None:
            scheduler.start()
        app.state.metrics.database = database
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await database.dispose()
            # The PDF workers, if a render started them (waiting for a render in progress, off the loop).
            await anyio.to_thread.run_sync(pdf_pool.shutdown)

    openapi = OpenAPIConfig(
        title="Concessional Migration Financing Facility API",
        version=VERSION,
        path="/schema",
        render_plugins=[schema_viewer()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="API token from /auth/tokens"),
                "session": SecurityScheme(
                    type="apiKey",
                    name=settings.session_cookie_name,
                    security_scheme_in="cookie",
                    description="Browser session from /auth/login; unsafe methods also need X-CSRF-Token",
                ),
            }
        ),
        security=[{"bearer": []}, {"session": []}],
    )
    cors = CORSConfig(allow_origins=list(settings.cors_allowed_origins)) if settings.cors_allowed_origins else None
    app = Litestar(
        route_handlers=[
            *domain_route_handlers(),
            schema_asset,
            metrics_endpoint,
            *page_route_handlers(),
            *extra_route_handlers,
        ],
        dependencies=request_dependencies(),
        middleware=[ServerTiming, DefineMiddleware(AuthenticationMiddleware, exclude=PUBLIC_PATHS)],
        exception_handlers=exception_handlers,
        openapi_config=openapi,
        plugins=[openapi_doc.RootModelSchema()],
        cors_config=cors,
        request_max_body_size=settings.max_request_body_bytes,
        lifespan=[lifespan],
        before_request=before_request,
        debug=False,
    )
    edge.install(app, session_cookie=settings.session_cookie_name, production=settings.is_production)
    # The document served at /schema describes every answer (the plugin's class, not its state, changes).
    app.plugins.get(OpenAPIPlugin).__class__ = DocumentedOpenAPIPlugin
    app.state.shape = shape_of(settings)

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        app.state.metrics.observe(method, route, status, seconds)

    # Outermost, around Litestar's own handling (unmatched paths and refused credentials included): every
    # request gets its id for its log lines and the response, and is counted in the metrics of the run.
    app.asgi_handler = RequestIdMiddleware(app.asgi_handler, observers=[observe])
    logging.getLogger("fundapp").setLevel(logging.INFO)
    return app
