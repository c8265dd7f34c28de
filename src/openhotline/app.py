"""The application factory: the one place where settings, database and adapters are wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from openhotline import __version__
from openhotline.accounts import views as accounts_views
from openhotline.accounts.deps import install_auth_handlers
from openhotline.blocklist import api as blocklist_api
from openhotline.blocklist import views as blocklist_views
from openhotline.clock import Clock
from openhotline.config import Settings, get_settings
from openhotline.console import admin_views, media_views, supervisor_views
from openhotline.console import views as console_views
from openhotline.db import GroupCommitter, make_engine, make_sessionmaker
from openhotline.exports import api as exports_api
from openhotline.federation import api as federation_api
from openhotline.helpline import api as helpline_api
from openhotline.helpline import views as helpline_views
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.taxonomy import load_taxonomy
from openhotline.matching import api as matching_api
from openhotline.media import api as media_api
from openhotline.media.store import EncryptedFileStore
from openhotline.partners import api as partners_api
from openhotline.partners import views as partners_views
from openhotline.reporting import api as reporting_api
from openhotline.reporting import views as reporting_views
from openhotline.signing.service import load_or_create as load_signing_key
from openhotline.takedown import api as takedown_api
from openhotline.web.errors import install_error_handlers
from openhotline.web.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from openhotline.web.ratelimit import TokenBucketLimiter
from openhotline.web.templating import STATIC_DIR

BATCH_BODY_LIMIT = 16 * 1024 * 1024


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the FastAPI app with its database, routers and middleware (clock: tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.committer.close()
        engine.dispose()

    engine = make_engine(settings.resolved_database_url())
    app = FastAPI(
        lifespan=lifespan,
        title="openhotline",
        version=__version__,
        description="Reports, cases, hash matching and partner exchange for hotlines.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine, clock)
    app.state.committer = GroupCommitter(app.state.sessionmaker)
    app.state.media_store = EncryptedFileStore(
        settings.data_dir / "media", settings.media_key_bytes()
    )
    app.state.signing_key = load_signing_key(settings.data_dir)
    app.state.public_limiter = TokenBucketLimiter(
        settings.public_rate_per_minute, settings.public_rate_burst
    )

    install_error_handlers(app)
    install_auth_handlers(app)
    if "hotline" in settings.modules:
        app.include_router(reporting_api.router)
        app.include_router(reporting_views.router)
        app.include_router(takedown_api.router)
        app.include_router(media_api.router)
        app.include_router(matching_api.router)
        app.include_router(partners_api.router)
        app.include_router(partners_views.router)
        app.include_router(blocklist_api.router)
        app.include_router(blocklist_views.router)
        app.include_router(federation_api.router)
        app.include_router(exports_api.router)
    if "helpline" in settings.modules:
        app.state.helpline_cipher = FieldCipher(settings.helpline_key_bytes())
        app.state.helpline_taxonomy = load_taxonomy(settings.helpline_taxonomy_path)
        app.include_router(helpline_api.router)
        app.include_router(helpline_views.router)
    app.include_router(accounts_views.router)
    for console_router in (console_views, media_views, supervisor_views, admin_views):
        app.include_router(console_router.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    def body_limit(path: str) -> int:
        if path.endswith("/batch"):
            return BATCH_BODY_LIMIT
        if path in ("/api/v1/hash", "/api/v1/match"):
            return media_api.MEDIA_BODY_LIMIT
        return settings.max_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    app.add_middleware(SecurityHeadersMiddleware)

    logging.getLogger("openhotline").setLevel(logging.INFO)
    return app
