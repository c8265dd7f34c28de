"""The composition root: builds every adapter once per process, from settings.

`serve`, `worker` and every CLI command start here. Nothing else constructs an adapter:
routes read them from `request.app.state.services`, job handlers and tick hooks receive
the `Services` as their first argument, CLI commands get it from the Typer context.
Building it loads every domain's tables, so no process can miss one (a worker once failed
every capture with "could not find table 'users'" because it never imported that model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from openhotline import domains
from openhotline.clock import SYSTEM_CLOCK, Clock
from openhotline.config import Settings, get_settings
from openhotline.db import make_engine, make_sessionmaker
from openhotline.keys import aes_key, load_or_create_aes_key

if TYPE_CHECKING:
    from openhotline.helpline.callerkey import CallerKeys
    from openhotline.helpline.crypto import FieldCipher
    from openhotline.helpline.provider import MessageProvider
    from openhotline.helpline.taxonomy import Taxonomy
    from openhotline.matching.engine import MatchEngine
    from openhotline.matching.subscriptions import ListFetcher
    from openhotline.media.store import MediaStore
    from openhotline.net.guard import AddressGuard, Resolver
    from openhotline.police.cybertip_client import CybertipClient
    from openhotline.reportremove.store import OneItemStore
    from openhotline.signing.service import SigningKey
    from openhotline.takedown.mailer import Mailer
    from openhotline.trace.service import Tracer


class SchemaNotReadyError(Exception):
    """The database has no (or an old) openhotline schema: `openhotline db upgrade` first."""


MIGRATE_HINT = "run `openhotline db upgrade` first"


def check_schema(engine: Engine) -> None:
    """Refuse to start on a database that is not migrated to the newest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from openhotline.migrate import alembic_config

    url = engine.url.render_as_string(hide_password=True)
    where = url.split("@")[-1]
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                raise SchemaNotReadyError(f"the database {where} has no schema: {MIGRATE_HINT}")
            current = set(MigrationContext.configure(conn).get_current_heads())
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise SchemaNotReadyError(f"cannot open the database {where}: {reason}") from exc
    heads = set(ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads())
    if current != heads:
        raise SchemaNotReadyError(
            f"the database {where} is at revision {sorted(current)} but this openhotline "
            f"needs {sorted(heads)}: {MIGRATE_HINT}"
        )


@dataclass
class Services:
    """Everything a process needs, built once; tests pass their own adapters to build()."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessionmaker: sessionmaker[Session]
    media_store: MediaStore
    signer: SigningKey
    resolver: Resolver
    mailer: Mailer
    notice_link_key: bytes
    _overrides: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Heavy or optional adapters are built on first use (the CLI need not load numba).
    @property
    def matcher(self) -> MatchEngine:
        """The PDQ/exact match engine (one per process; indexes persist under data_dir/index)."""
        with self._lock:
            engine: MatchEngine | None = self._overrides.get("matcher")
            if engine is None:
                from openhotline.matching.engine import MatchEngine

                engine = MatchEngine(self.sessionmaker, self.settings.data_dir / "index")
                self._overrides["matcher"] = engine
            return engine

    @cached_property
    def list_fetcher(self) -> ListFetcher:
        """Downloads subscribed partners' signed lists (HTTP)."""
        override: ListFetcher | None = self._overrides.get("list_fetcher")
        if override is not None:
            return override
        from openhotline.matching.subscriptions import HttpListFetcher

        return HttpListFetcher()

    @cached_property
    def cybertip_client(self) -> CybertipClient:
        """NCMEC's CyberTipline Reporting API (only the configured base URL is ever called)."""
        override: CybertipClient | None = self._overrides.get("cybertip_client")
        if override is not None:
            return override
        from openhotline.police.cybertip_client import HttpCybertipClient

        s = self.settings
        return HttpCybertipClient(
            s.ncmec_base_url, s.ncmec_username, s.ncmec_password, timeout=s.ncmec_timeout_seconds
        )

    @cached_property
    def tracer(self) -> Tracer:
        """DNS, GeoIP, RDAP and CDN ranges for hosting traces."""
        override: Tracer | None = self._overrides.get("tracer")
        if override is not None:
            return override
        from openhotline.trace.cdn import CdnRanges
        from openhotline.trace.geoip import MaxMindGeoIP
        from openhotline.trace.rdap import HttpRdap
        from openhotline.trace.service import Tracer

        s = self.settings
        return Tracer(
            resolver=self.resolver,
            geoip=MaxMindGeoIP(s.geoip_country_db, s.geoip_asn_db),
            rdap=HttpRdap(s.rdap_base_url),
            cdns=CdnRanges.shipped(s.extra_cdn_ranges),
        )

    @cached_property
    def helpline_cipher(self) -> FieldCipher:
        """The AES-GCM cipher of helpline notes."""
        from openhotline.helpline.crypto import FieldCipher

        s = self.settings
        key = aes_key(s.helpline_key, "OPENHOTLINE_HELPLINE_KEY", key_path(s, "helpline.key"))
        return FieldCipher(key)

    @cached_property
    def victimid_cipher(self) -> FieldCipher:
        """The AES-GCM cipher of series notes and clues (its own key, like helpline notes)."""
        from openhotline.helpline.crypto import FieldCipher

        s = self.settings
        key = aes_key(s.victimid_key, "OPENHOTLINE_VICTIMID_KEY", key_path(s, "victimid.key"))
        return FieldCipher(key)

    @cached_property
    def helpline_caller_keys(self) -> CallerKeys:
        """Returning-caller keys, derived per year from the helpline secret (callerkey.py)."""
        from openhotline.helpline.callerkey import CallerKeys

        s = self.settings
        return CallerKeys(
            aes_key(s.helpline_key, "OPENHOTLINE_HELPLINE_KEY", key_path(s, "helpline.key"))
        )

    @cached_property
    def message_provider(self) -> MessageProvider:
        """The SMS/WhatsApp provider adapter for counsellors' replies."""
        override: MessageProvider | None = self._overrides.get("message_provider")
        if override is not None:
            return override
        from openhotline.helpline.provider import HttpMessageProvider

        s = self.settings
        return HttpMessageProvider(
            base_url=s.helpline_provider_base_url,
            account=s.helpline_provider_account,
            auth_token=s.helpline_provider_auth_token,
            senders={"sms": s.helpline_sms_from, "whatsapp": s.helpline_whatsapp_from},
        )

    @cached_property
    def helpline_taxonomy(self) -> Taxonomy:
        """The helpline's fixed taxonomy (packaged, or the configured copy)."""
        from openhotline.helpline.taxonomy import load_taxonomy

        return load_taxonomy(self.settings.helpline_taxonomy_path)

    @cached_property
    def removal_store(self) -> OneItemStore:
        """Report Remove's one-item store: each image under its own key, shredded after."""
        override: OneItemStore | None = self._overrides.get("removal_store")
        if override is not None:
            return override
        from openhotline.reportremove.store import OneItemStore

        return OneItemStore(self.settings.data_dir / "report-remove")

    def guard(self) -> AddressGuard:
        """The SSRF guard with the settings allow-list."""
        from openhotline.net.guard import AddressGuard, parse_networks

        return AddressGuard(self.resolver, parse_networks(self.settings.crawler_allow_networks))

    def handlers(self) -> dict[str, Callable[[Services, dict[str, Any]], None]]:
        """Every domain's job handlers by kind."""
        return domains.handlers()

    def tick_hooks(self) -> list[Callable[[Services], None]]:
        """Every domain's tick hooks."""
        return domains.tick_hooks()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def key_path(settings: Settings, name: str) -> Path:
    """Where a generated key file lives."""
    return settings.data_dir / "keys" / name


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    check: bool = True,
    resolver: Resolver | None = None,
    mailer: Mailer | None = None,
    media_store: MediaStore | None = None,
    matcher: MatchEngine | None = None,
    tracer: Tracer | None = None,
    list_fetcher: ListFetcher | None = None,
    message_provider: MessageProvider | None = None,
    cybertip_client: CybertipClient | None = None,
) -> Services:
    """Build the process's services; `check` refuses a database that is not migrated."""
    from openhotline.media.store import EncryptedFileStore
    from openhotline.net.guard import DnsResolver, StaticResolver
    from openhotline.signing.service import load_or_create
    from openhotline.takedown.mailer import SmtpMailer

    settings = settings or get_settings()
    clock = clock or SYSTEM_CLOCK
    domains.load_models()
    url = settings.resolved_database_url()
    sqlite_file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if check and sqlite_file and sqlite_file != ":memory:" and not Path(sqlite_file).exists():
        # Don't leave an empty database file behind: say what to run instead.
        raise SchemaNotReadyError(f"no database at {sqlite_file}: {MIGRATE_HINT}")
    engine = make_engine(url)
    try:
        if check:
            check_schema(engine)
        if media_store is None:
            key = aes_key(
                settings.media_key, "OPENHOTLINE_MEDIA_KEY", key_path(settings, "media.key")
            )
            media_store = EncryptedFileStore(settings.data_dir / "media", key)
        if resolver is None:
            dns = DnsResolver(nameservers=settings.dns_nameservers or None, port=settings.dns_port)
            resolver = StaticResolver(settings.dns_overrides, dns)
        if settings.notice_link_key:
            link_key = settings.notice_link_key.encode("utf-8")
        else:
            link_key = load_or_create_aes_key(key_path(settings, "notice-link.key"))
        overrides: dict[str, Any] = {}
        if matcher is not None:
            overrides["matcher"] = matcher
        if tracer is not None:
            overrides["tracer"] = tracer
        if list_fetcher is not None:
            overrides["list_fetcher"] = list_fetcher
        if message_provider is not None:
            overrides["message_provider"] = message_provider
        if cybertip_client is not None:
            overrides["cybertip_client"] = cybertip_client
        return Services(
            settings=settings,
            clock=clock,
            engine=engine,
            sessionmaker=make_sessionmaker(engine, clock),
            media_store=media_store,
            signer=load_or_create(settings.data_dir),
            resolver=resolver,
            mailer=mailer or SmtpMailer.from_settings(settings),
            notice_link_key=link_key,
            _overrides=overrides,
        )
    except BaseException:
        engine.dispose()
        raise
