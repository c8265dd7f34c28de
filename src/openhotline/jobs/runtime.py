"""What a job needs: settings, database and adapters, wired once per worker process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openhotline.clock import SYSTEM_CLOCK, Clock
from openhotline.config import Settings
from openhotline.db import make_engine, make_sessionmaker
from openhotline.media.store import EncryptedFileStore, MediaStore
from openhotline.net.guard import (
    AddressGuard,
    DnsResolver,
    Resolver,
    StaticResolver,
    parse_networks,
)

log = logging.getLogger("openhotline.jobs")

Handler = Callable[["Runtime", dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register a job handler under a kind name (handlers must be idempotent)."""

    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return deco


def load_handlers() -> dict[str, Handler]:
    """Import every domain's tasks module so their handlers are registered."""
    from openhotline.blocklist import tasks as _blocklist_tasks  # noqa: F401
    from openhotline.capture import tasks as _capture_tasks  # noqa: F401
    from openhotline.federation import tasks as _federation_tasks  # noqa: F401
    from openhotline.helpline import tasks as _helpline_tasks  # noqa: F401
    from openhotline.takedown import tasks as _takedown_tasks  # noqa: F401

    return HANDLERS


@dataclass
class Runtime:
    """Adapters for jobs; tests pass their own resolver, the defaults are the real ones."""

    settings: Settings
    resolver: Resolver | None = None
    adapters: dict[str, Any] = field(default_factory=dict)
    # The time every job reads (through its sessions); tests give a FixedClock.
    clock: Clock = SYSTEM_CLOCK
    _engine: Engine | None = None
    _factory: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        """The database engine (created on first use)."""
        if self._engine is None:
            self._engine = make_engine(self.settings.resolved_database_url())
        return self._engine

    @property
    def sessionmaker(self) -> sessionmaker[Session]:
        """Session factory on the engine."""
        if self._factory is None:
            self._factory = make_sessionmaker(self.engine, self.clock)
        return self._factory

    def media_store(self) -> MediaStore:
        """The encrypted media store."""
        store: MediaStore | None = self.adapters.get("media_store")
        if store is None:
            s = self.settings
            store = EncryptedFileStore(s.data_dir / "media", s.media_key_bytes())
            self.adapters["media_store"] = store
        return store

    def dns(self) -> Resolver:
        """The resolver: settings overrides first, then real DNS."""
        if self.resolver is None:
            s = self.settings
            dns = DnsResolver(nameservers=s.dns_nameservers or None, port=s.dns_port)
            self.resolver = StaticResolver(s.dns_overrides, dns)
        return self.resolver

    def guard(self) -> AddressGuard:
        """The SSRF guard with the settings allow-list."""
        return AddressGuard(self.dns(), parse_networks(self.settings.crawler_allow_networks))

    def adapter(self, name: str, build: Callable[[], Any]) -> Any:
        """Return a cached adapter, building it on first use."""
        if name not in self.adapters:
            self.adapters[name] = build()
        return self.adapters[name]

    def close(self) -> None:
        """Release the database engine."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._factory = None
