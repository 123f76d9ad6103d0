"""The application shell: ``create_app()`` wires every domain's controllers into one Litestar app."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import anyio.to_thread
from litestar import Litestar, Request, Response, Router, get
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

from fundapp.core import api as core_api
from fundapp.core import audit, web
from fundapp.core.clock import Clock
from fundapp.core.config import Settings, load_settings
from fundapp.core.db import Database, provide_db_session
from fundapp.core.errors import exception_handlers
from fundapp.core.logs import RequestIdMiddleware
from fundapp.core.metrics import Metrics, metrics_endpoint
from fundapp.core.security import AuthenticationMiddleware, PasswordHashing
from fundapp.core.timing import ServerTiming
from fundapp.core.web import pages as core_pages
from fundapp.models import import_all_models
from fundapp.wiring import register_hooks
from governance import api as governance_api
from governance import pages as governance_pages
from governance.service import open_due_fee_years
from ledger import api as ledger_api
from proposals import api as proposals_api
from proposals import funding as _funding  # noqa: F401 - registers the funding decision handler
from reports import api as reports_api
from reports import pages as reports_pages
from reports import pdf_pool

VERSION = "0.1.0"

# Reachable without credentials: liveness, the API description and the login form itself.
PUBLIC_PATHS = [
    "^/health$",
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


@get(f"{SCHEMA_ASSETS_PATH}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def schema_asset(name: FromPath[str]) -> Response[bytes]:
    """One of the viewer's files (only those it needs), cached by the browser for a day."""
    if name not in SCHEMA_ASSETS:
        raise NotFoundException()
    body = (importlib.resources.files("swagger_ui") / "static" / name).read_bytes()
    return Response(
        body,
        media_type=SCHEMA_ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def schema_viewer() -> SwaggerRenderPlugin:
    """Swagger UI at /schema, reading its scripts, stylesheet and icon from the service."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{SCHEMA_ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{SCHEMA_ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{SCHEMA_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SCHEMA_ASSETS_PATH}/favicon-32x32.png'>",
    )


def page_route_handlers() -> list[Any]:
    """The web pages: the public ones (sign-in, language), the stylesheet, and every signed-in page under
    one router whose guard checks each form's CSRF token (docs/pages.md)."""
    return [
        *core_pages.route_handlers,
        create_static_files_router(path="/static", directories=[web.STATIC_DIR], name="static"),
        Router(
            path="/",
            route_handlers=[*core_pages.page_handlers, *governance_pages.page_handlers, *reports_pages.page_handlers],
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
        *reports_api.route_handlers,
    ]


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
    settings = settings or load_settings()
    clock = clock or Clock()
    register_hooks()
    audit.use_chain_key(settings.chain_key_bytes)
    # Every table's mapper is configured before the first request: a service that builds a record without the
    # ORM (model_construct, on the write path) must never be the first to touch a mapper (it fails then).
    import_all_models()
    configure_mappers()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        database = Database(settings.database_url)
        app.state.db = database
        metrics.database = database
        try:
            yield
        finally:
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
    metrics = Metrics()
    cors = CORSConfig(allow_origins=list(settings.cors_allowed_origins)) if settings.cors_allowed_origins else None
    app = Litestar(
        route_handlers=[
            *domain_route_handlers(),
            schema_asset,
            metrics_endpoint,
            *page_route_handlers(),
            *extra_route_handlers,
        ],
        dependencies={"db_session": Provide(provide_db_session)},
        middleware=[ServerTiming, DefineMiddleware(AuthenticationMiddleware, exclude=PUBLIC_PATHS)],
        exception_handlers=exception_handlers,
        openapi_config=openapi,
        cors_config=cors,
        request_max_body_size=settings.max_request_body_bytes,
        lifespan=[lifespan],
        before_request=before_request,
        debug=False,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    # Outermost, around Litestar's own handling (unmatched paths and refused credentials included): every
    # request gets its id for its log lines and the response, and is counted in the metrics.
    app.asgi_handler = RequestIdMiddleware(app.asgi_handler, observers=[metrics.observe])
    app.state.clock = clock
    app.state.daily_work = DailyWork()
    app.state.hashing = PasswordHashing(settings)
    logging.getLogger("fundapp").setLevel(logging.INFO)
    return app
