"""The application factory: mounts what the domains declare over the composition root."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount, Route

from openhotline import __version__, domains
from openhotline.accounts.deps import install_auth_handlers
from openhotline.bootstrap import Services, build
from openhotline.clock import Clock
from openhotline.config import Settings
from openhotline.db import GroupCommitter, OutageMonitor
from openhotline.media.api import MEDIA_BODY_LIMIT
from openhotline.web.errors import install_error_handlers, install_openapi
from openhotline.web.jsonlimits import JsonLimitMiddleware
from openhotline.web.middleware import (
    BodyLimitMiddleware,
    LocaleMiddleware,
    SecurityHeadersMiddleware,
)
from openhotline.web.ratelimit import make_limiter
from openhotline.web.templating import STATIC_DIR

BATCH_BODY_LIMIT = 16 * 1024 * 1024
MEDIA_PATHS = ("/api/v1/hash", "/api/v1/match")


def add_router(app: FastAPI, router: APIRouter) -> None:
    """Put a domain router's routes on the app itself, in order, as plain routes.

    Since FastAPI 0.137 `include_router` keeps each router as a nested node that is resolved
    again on every request: with ~45 routers that cost ~0.47 ms a request (measured with an
    in-process ASGI loop: 0.58 ms for a trivial route behind them, 0.11 ms in front), more
    than the whole intake path. A route made by an `APIRouter` already carries the router's
    prefix, tags, dependencies and responses, so moving it up changes nothing else; a router
    holding anything else (a nested include) is included the usual way.
    """
    if all(isinstance(route, APIRoute | Route | Mount) for route in router.routes):
        app.router.routes.extend(router.routes)
    else:
        app.include_router(router)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the FastAPI app over the services (built here from settings unless given)."""
    owned = services is None
    if services is None:
        services = build(settings, clock=clock)
    settings = services.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "freeze_gc", False):
            server_gc()
        yield
        app.state.committer.close()
        if owned:
            services.close()

    app = FastAPI(
        lifespan=lifespan,
        title="openhotline",
        version=__version__,
        description="Reports, cases, hash matching and partner exchange for hotlines.",
        docs_url=None,  # served by the apidocs domain with local assets (CSP: no CDN)
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.services = services
    app.state.committer = GroupCommitter(services.sessionmaker)
    app.state.outages = OutageMonitor(services.engine, services.clock)
    app.state.public_limiter = make_limiter(
        settings.public_rate_per_minute, settings.public_rate_burst, settings.shared_rate_table
    )

    install_error_handlers(app)
    install_openapi(app)
    install_auth_handlers(app)
    for domain in domains.all_domains():
        for module, ref in domain.mounted_routers():
            if module == "core" or module in settings.modules:
                add_router(app, domains.resolve(ref))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    def body_limit(path: str) -> int:
        if path.endswith("/batch"):
            return BATCH_BODY_LIMIT
        # Evidence uploads to a case (console form and partner API) carry media too.
        if path in MEDIA_PATHS or path.endswith("/evidence"):
            return MEDIA_BODY_LIMIT
        # Report Remove's upload: the page itself answers an over-size image in plain words.
        if path == "/report-remove":
            return 2 * settings.report_remove_max_bytes + 1024 * 1024
        # Series packages (media inside) and known-series lists from another hotline or police.
        if (
            path.startswith(("/api/v1/victimid/packages/", "/api/v1/victimid/known-lists/"))
            or path == "/console/victimid/known-lists"
        ):
            return MEDIA_BODY_LIMIT
        return settings.max_body_bytes

    # Inside the body limit, so the JSON check never buffers more than the limit allows.
    app.add_middleware(JsonLimitMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(LocaleMiddleware, default_language=settings.default_language)

    logging.getLogger("openhotline").setLevel(logging.INFO)
    return app


# The cyclic collector's first-generation threshold for a server process (Python's is
# 700 allocations). A partner batch of 1,000 reports allocates some 10,000 tracked objects
# (parsed JSON, models, rows) that live until its group commits; at 700 the collector
# walked them again and again: 23% of the CPU of SQLite batch intake, 37% on PostgreSQL
# (in process, 20 batches in flight). At 50,000 it was 8%. Garbage cycles wait longer to
# be freed: a few MB at most.
SERVER_GC_THRESHOLD = (50_000, 20, 20)


def server_gc() -> None:
    """Set up the collector for a long-lived server process once its app is built."""
    # Everything built so far (routes, models, compiled SQL, templates) lives as long as
    # the server process: keep it out of the cyclic collector's full passes, whose scans
    # of it were the intake's latency tail (p99 170-184 ms -> 36 ms, and 2,079-2,586 ->
    # 3,254 reports/s with 2 processes). Only for `serve`: a test process builds hundreds
    # of apps, whose cycles must stay collectable.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLD)


def create_server_app() -> FastAPI:
    """The app as `openhotline serve` runs it: one per server process, for its lifetime."""
    app = create_app()
    app.state.freeze_gc = True
    return app
