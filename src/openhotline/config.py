"""Settings from OPENHOTLINE_* environment variables (pydantic-settings)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openhotline.netaddr import parse_allow_entry

G = TypeVar("G", bound=BaseModel)
# Live helpline channels (web chat pages; SMS and WhatsApp webhooks of a Twilio-like provider).
HELPLINE_CHANNELS = ("chat", "sms", "whatsapp", "phone")


def hash_api_key(key: str) -> str:
    """Return the SHA-256 hex digest under which an API key is stored."""
    # API keys are long random tokens, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class FederationPeer(BaseModel):
    """A partner hotline (openhotline instance) that takes referrals for its country."""

    base_url: str  # e.g. https://hotline.example.org
    api_key: str  # the key that instance issued to us (scope referrals.receive)
    public_key: str  # its Ed25519 public key (base64), to verify what it sends us
    allow_media: bool = False  # media never travels unless both sides allow it


class CoreSettings(BaseModel):
    """Where data lives, who the hotline is, which parts run."""

    data_dir: Path = Path("var")
    database_url: str = ""
    # Hotline identity: used for routing, the public form and notices.
    hotline_name: str = "openhotline"
    own_countries: list[str] = Field(default_factory=lambda: ["GB"])
    # Which parts of the platform this deployment runs (decides the routers mounted).
    modules: list[str] = Field(default_factory=lambda: ["hotline", "helpline"])
    # Language of public pages when the browser asks for none we have (see openhotline.i18n).
    default_language: str = "en"
    # Who may read /metrics (client networks; empty = nobody): loopback only by default,
    # so a Prometheus on the same host scrapes it and the public cannot.
    metrics_allow_networks: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    # Server processes `openhotline serve` starts (sharing one listening socket); each has
    # its own group-commit writer. Two use both cores of a small machine.
    workers: int = Field(default=1, ge=1, le=64)
    # Set by `serve` for its own processes (the shared rate-limit table): leave it empty.
    shared_rate_table: str = ""

    @field_validator("default_language")
    @classmethod
    def _default_language(cls, language: str) -> str:
        from openhotline.i18n import LANGUAGES

        if language not in LANGUAGES:
            raise ValueError(f"default_language: {language!r} is not one of {', '.join(LANGUAGES)}")
        return language

    @field_validator("metrics_allow_networks")
    @classmethod
    def _metrics_networks(cls, networks: list[str]) -> list[str]:
        for n in networks:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError as exc:
                raise ValueError(f"metrics_allow_networks: {n!r} is not a network") from exc
        return networks

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite inside data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openhotline.db').as_posix()}"


class IntakeSettings(BaseModel):
    """Public and partner report intake: sizes and rate limits."""

    # Public intake limits.
    max_body_bytes: int = 256 * 1024
    max_urls_per_report: int = 50
    max_url_bytes: int = 4096
    max_batch_reports: int = 1000
    # In-memory per-client rate limit for public endpoints (requests per minute; 0 = off).
    public_rate_per_minute: int = 120
    public_rate_burst: int = 60
    # How long an Idempotency-Key on report submission is remembered (a retry within this
    # time returns the first receipt instead of filing a duplicate).
    idempotency_key_hours: float = 24.0
    # Language of the one feedback e-mail to a consenting reporter (a notice language).
    reporter_feedback_language: str = "en"


class AccountsSettings(BaseModel):
    """Staff accounts: cookies, sessions, lockout."""

    # Console accounts: cookies are Secure unless turned off for http://127.0.0.1 development.
    session_cookie_secure: bool = True
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15


class AssessmentSettings(BaseModel):
    """Assessment: classification scheme, four eyes, claims, exposure budgets."""

    # Assessment: classification scheme file (config/schemes/<name>.toml), four eyes, claims.
    classification_scheme: str = "default"
    confirmations_required: int = Field(default=2, ge=2, le=3)
    claim_minutes: int = 30
    # Protecting analysts: daily exposure budget and how long one reveal stays open.
    exposure_budget_minutes: int = 300
    reveal_window_seconds: int = 120


class MediaSettings(BaseModel):
    """Media at rest."""

    # Base64 of a 32-byte AES key for media at rest; generated into data_dir/keys if unset.
    media_key: str = ""
    # Videos (vPDQ, needs the [video] extra): one frame hash per this many seconds, at most
    # video_max_frames of them; a video longer than video_max_seconds is stored unhashed.
    video_seconds_per_hash: float = Field(default=1.0, gt=0, le=60)
    video_max_frames: int = Field(default=900, ge=1, le=20_000)
    video_max_seconds: float = Field(default=3600.0, gt=0)


class JobsSettings(BaseModel):
    """The job queue and worker."""

    # Jobs (Huey): "sqlite" (embedded, in data_dir) or "redis" (distributed).
    jobs_backend: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    jobs_name: str = "openhotline"
    job_max_attempts: int = 5
    job_backoff_seconds: float = 30.0
    job_lease_seconds: float = 600.0
    jobs_tick_seconds: float = 10.0  # how often a worker looks for new cases and due work
    jobs_keep_days: float = 30.0
    # A pending job due this long without running is handed to the queue again (its message
    # was lost: a Redis outage, a worker killed between hand-over and start).
    jobs_redispatch_seconds: float = 60.0


class CrawlerSettings(BaseModel):
    """The safe crawler (capture and re-checks) and its DNS."""

    # Crawler (capture and re-checks). Non-public addresses are refused unless listed here:
    # a network (every port) or an address with one port ("127.0.0.1:8080", "[::1]:8080").
    crawler_allow_networks: list[str] = Field(default_factory=list)
    dns_overrides: dict[str, list[str]] = Field(default_factory=dict)
    dns_nameservers: list[str] = Field(default_factory=list)  # empty: the system's resolvers
    dns_port: int = 53
    crawler_user_agent: str = "openhotline-crawler/0.1 (+abuse reporting hotline)"
    crawler_timeout_seconds: float = 10.0  # wall-clock limit of one URL fetch (all its reads)
    crawler_case_seconds: float = 60.0  # wall-clock limit of one case's whole crawl
    crawler_max_redirects: int = 5
    crawler_max_page_bytes: int = 2 * 1024 * 1024
    crawler_max_media_bytes: int = 25 * 1024 * 1024
    crawler_max_case_bytes: int = 64 * 1024 * 1024  # all media one capture keeps in memory
    crawler_max_items: int = 50
    crawler_max_pages: int = 10
    # Icons, tracking pixels and tiny images are dropped before they become items (counted,
    # not stored): an image whose shorter side is under this many pixels, or any file under
    # capture_min_media_bytes.
    capture_min_image_side: int = Field(default=48, ge=0, le=4096)
    capture_min_media_bytes: int = Field(default=512, ge=0, le=1024 * 1024)
    # Rendered capture: Debian's chromium (missing: the mode says it is unavailable), and the
    # budgets of one render (every request still goes through the safe fetcher's limits).
    render_chromium_path: str = "/usr/bin/chromium"
    render_seconds: float = Field(default=30.0, gt=0, le=600)
    render_max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    render_max_requests: int = Field(default=300, gt=0, le=10_000)
    # Verify TLS certificates (false captures evidence from sites with broken TLS too).
    crawler_verify_tls: bool = True
    # Banks whose matches auto-assess captured items (empty: every enabled bank).
    capture_match_banks: list[str] = Field(default_factory=list)

    @field_validator("crawler_allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                parse_allow_entry(item)  # the guard's own parser of these entries
            except ValueError as exc:
                raise ValueError(
                    f"not an IP network: {item!r} "
                    "(e.g. 127.0.0.0/8, or one port: 127.0.0.1:8080, [::1]:8080)"
                ) from exc
        return value


class TraceSettings(BaseModel):
    """Hosting trace: GeoIP/ASN databases, RDAP, CDN ranges."""

    # Hosting trace.
    geoip_country_db: Path | None = None
    geoip_asn_db: Path | None = None
    rdap_base_url: str = "https://rdap.org"
    extra_cdn_ranges: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("extra_cdn_ranges")
    @classmethod
    def _cdn_ranges(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, cidrs in value.items():
            for cidr in cidrs:
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError as exc:
                    raise ValueError(f"CDN {name}: not an IP network: {cidr!r}") from exc
        return value


class TakedownSettings(BaseModel):
    """Routing, notices (SMTP) and removal re-checks."""

    # Routing: partner hotline per country; police destinations; "police first" hold.
    partner_hotlines: dict[str, str] = Field(default_factory=dict)
    police_destination: str = "national-police"
    international_police_destination: str = "interpol-icse"
    police_first: bool = False
    # Notices (SMTP) and follow-up.
    public_base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    notice_from: str = "notices@openhotline.invalid"
    notice_languages: dict[str, str] = Field(default_factory=dict)
    notice_interval_hours: float = 24.0
    # How long a worker holds a due notice while re-checking it before sending (seconds):
    # longer than a re-check and re-trace take (crawler deadline), short enough that a
    # notice held by a killed worker goes out within a minute (600 s delayed them 10 min).
    notice_claim_lease_seconds: float = 60.0
    # A send still "sending" after this long was cut off (worker killed): it is uncertain.
    notice_send_uncertain_seconds: float = 300.0
    notice_escalate_after: int = 3
    notice_escalation_cc: list[str] = Field(default_factory=list)
    notice_link_key: str = ""
    notice_templates_dir: Path | None = None  # edited templates override the shipped ones
    recheck_interval_hours: float = 6.0


class PartnerSettings(BaseModel):
    """Partner keys, federation, block lists and police exports."""

    # SHA-256 digests of the static partner API keys (until partner accounts exist).
    partner_api_key_hashes: list[str] = Field(default_factory=list)
    # Scopes of those static keys (database keys carry their own; see `openhotline partner`).
    partner_static_key_scopes: list[str] = Field(
        default_factory=lambda: ["reports.submit", "hashes.match"]
    )
    # Hotline-to-hotline referrals: country code -> peer; seconds before the first retry
    # (doubling per attempt up to federation_retry_max_seconds); whether we accept media.
    federation_peers: dict[str, FederationPeer] = Field(default_factory=dict)
    federation_retry_base_seconds: int = 30
    federation_retry_max_seconds: int = 6 * 3600
    federation_allow_media: bool = False
    # How often the job worker rebuilds the block lists (e.g. 12; 0 = on demand only).
    list_publish_interval_hours: float = 0
    # URLs hosted in own_countries are handled by notice at home, so they stay off the URL list.
    list_include_own_country: bool = False
    # Police exports may carry (re-encrypted) media only when this is on.
    export_include_media: bool = False
    # The reporting person named in NCMEC CyberTipline reports.
    cybertip_email: str = ""
    cybertip_first_name: str = ""
    cybertip_last_name: str = ""
    # NCMEC's CyberTipline Reporting API (police channels with delivery "ncmec"): base URL
    # (NCMEC's test environment until NCMEC approves production, report.cybertip.org/ispws),
    # the HTTP Basic credentials NCMEC issues, the time one request may take, and how many
    # tries each submission step gets (with the job queue's back-off) before it gives up.
    ncmec_base_url: str = "https://exttest.cybertip.org/ispws"
    ncmec_username: str = ""
    ncmec_password: str = ""
    ncmec_timeout_seconds: float = Field(default=60.0, gt=0)
    ncmec_max_attempts: int = Field(default=6, ge=1, le=50)


class HelplineSettings(BaseModel):
    """Helpline notes key, retention, suppression, taxonomy."""

    # Helpline: encryption key for notes (base64 of 32 bytes; generated into data_dir/keys if
    # unset), retention before anonymisation, small-count suppression threshold, taxonomy.
    helpline_key: str = ""
    helpline_retention_days: int = Field(default=365, ge=1)
    helpline_suppression_k: int = Field(default=5, ge=2)
    helpline_taxonomy_path: Path | None = None
    # Own copy of config/helpline/chi.toml (our codes → Child Helpline International's lists).
    helpline_chi_mapping_path: Path | None = None

    # Channels (helpline/channels.py): which live channels are open ("chat" = the web chat
    # pages, "sms", "whatsapp" and "phone" = provider webhooks); the provider's auth token (signs
    # webhooks, authenticates replies), its API base URL and account id, our sender numbers;
    # the public base URL the provider calls (signatures cover the full URL; "" = the
    # request's own URL); the country calling code of national numbers (07700... -> +44...);
    # where the "leave quickly" link of the chat pages goes.
    helpline_channels: list[str] = Field(default_factory=lambda: ["chat"])
    helpline_provider_auth_token: str = ""
    helpline_provider_base_url: str = ""
    helpline_provider_account: str = ""
    helpline_sms_from: str = ""
    helpline_whatsapp_from: str = ""
    helpline_webhook_base_url: str = ""
    helpline_default_country_code: str = "44"
    helpline_leave_url: str = "https://www.google.com/"
    # Phone: what a caller hears before waiting in the provider's call queue for a counsellor
    # (counsellors answer from the provider's softphone; calls are never recorded).
    helpline_voice_greeting: str = (
        "You are through to the helpline. A counsellor will be with you soon."
    )
    helpline_voice_queue: str = "helpline"

    @field_validator("helpline_channels")
    @classmethod
    def _helpline_channels(cls, channels: list[str]) -> list[str]:
        for c in channels:
            if c not in HELPLINE_CHANNELS:
                raise ValueError(
                    f"helpline_channels: {c!r} is not one of {', '.join(HELPLINE_CHANNELS)}"
                )
        return channels

    @field_validator(
        "helpline_provider_base_url", "helpline_webhook_base_url", "helpline_leave_url"
    )
    @classmethod
    def _helpline_urls(cls, url: str) -> str:
        if url and not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url.rstrip("/") if url else url

    @field_validator("helpline_voice_queue")
    @classmethod
    def _voice_queue(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise ValueError("helpline_voice_queue: 1 to 64 letters, digits, '-' or '_'")
        return name

    @field_validator("helpline_voice_greeting")
    @classmethod
    def _voice_greeting(cls, text: str) -> str:
        if not text.strip() or len(text) > 500:
            raise ValueError("helpline_voice_greeting: 1 to 500 characters")
        return text.strip()

    @field_validator("helpline_default_country_code")
    @classmethod
    def _country_code(cls, code: str) -> str:
        if not re.fullmatch(r"[1-9]\d{0,2}", code):
            raise ValueError("helpline_default_country_code: 1 to 3 digits, e.g. 44")
        return code

    @model_validator(mode="after")
    def _provider_channels_need_a_provider(self) -> Self:
        provider = [c for c in self.helpline_channels if c in ("sms", "whatsapp", "phone")]
        if provider and not (self.helpline_provider_auth_token and self.helpline_provider_base_url):
            raise ValueError(
                f"helpline_channels {', '.join(provider)} need helpline_provider_auth_token "
                "and helpline_provider_base_url"
            )
        return self


class ReportRemoveSettings(BaseModel):
    """Report Remove: upload limits, how long images and unclaimed requests are kept."""

    report_remove_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    report_remove_max_pixels: int = Field(default=50_000_000, ge=10_000)
    # A request nobody confirmed within this many days expires and its image is deleted.
    report_remove_unclaimed_days: int = Field(default=30, ge=1)
    # No image is kept longer than this, whatever its request's state.
    report_remove_image_days: int = Field(default=60, ge=1)
    # How the status page points back to support ("Call 0800 ..."); empty: a generic line.
    report_remove_support: list[str] = Field(default_factory=list)


class VictimIdSettings(BaseModel):
    """Victim identification: the clues key, suggestion radius, the police partner."""

    # AES key of series notes and clues (base64 of 32 bytes; generated into data_dir/keys).
    victimid_key: str = ""
    # PDQ radius of "possibly related" suggestions and of new-material alerts.
    victimid_pdq_radius: int = Field(default=31, ge=0, le=128)
    # How many recent items a suggestion run checks by local features (ORB + RANSAC).
    victimid_feature_candidates: int = Field(default=100, ge=0, le=5000)
    # The police partner organisation (its name) that receives victim-identification
    # packages when new material of an unidentified victim arrives; "" = none.
    victimid_police_partner: str = ""


class RetentionSettings(BaseModel):
    """How long personal and sensitive data is kept (days; 0 = keep); legal holds win."""

    retention_reporter_email_days: int = Field(default=90, ge=0)
    retention_report_text_days: int = Field(default=730, ge=0)
    retention_trace_days: int = Field(default=730, ge=0)  # IPs and abuse addresses
    retention_referral_payload_days: int = Field(default=365, ge=0)
    # Media bytes N days after the case was removed or closed (the item's data key is erased).
    retention_media_days: int = Field(default=90, ge=0)
    # Addresses kept by notice sends (cc list, SMTP error text); bodies are never stored.
    retention_notice_days: int = Field(default=730, ge=0)
    # Console sessions, N days after they expired.
    retention_session_days: int = Field(default=30, ge=0)
    # Run the purge from the worker once a day (a dry run is always possible from the CLI).
    retention_purge_enabled: bool = False


class StatsSettings(BaseModel):
    """Published statistics: the public host accountability page."""

    # Opt-in: /transparency/hosts shows removal times per hosting provider and country.
    stats_host_page_enabled: bool = False
    # Name a provider only with at least this many notices (never below the helpline's k).
    stats_host_page_min_notices: int = Field(default=10, ge=2)


# Settings are grouped by domain (above); Settings is all groups in one flat namespace, so
# every variable keeps its OPENHOTLINE_<NAME> and a domain can be handed only its group.
SECRET_FIELDS = frozenset(
    {"database_url", "media_key", "helpline_key", "smtp_password", "notice_link_key",
     "federation_peers", "victimid_key", "helpline_provider_auth_token",
     "ncmec_username", "ncmec_password"}
)  # fmt: skip
GROUPS: dict[str, type[BaseModel]] = {
    "core": CoreSettings,
    "intake": IntakeSettings,
    "accounts": AccountsSettings,
    "assessment": AssessmentSettings,
    "media": MediaSettings,
    "jobs": JobsSettings,
    "crawler": CrawlerSettings,
    "trace": TraceSettings,
    "takedown": TakedownSettings,
    "partner": PartnerSettings,
    "helpline": HelplineSettings,
    "retention": RetentionSettings,
    "reportremove": ReportRemoveSettings,
    "victimid": VictimIdSettings,
    "stats": StatsSettings,
}
# Read by the test harness and scripts, not by the application.
KNOWN_NON_SETTINGS = frozenset({"OPENHOTLINE_TEST_DATABASE_URL"})


class Settings(
    CoreSettings,
    IntakeSettings,
    AccountsSettings,
    AssessmentSettings,
    MediaSettings,
    JobsSettings,
    CrawlerSettings,
    TraceSettings,
    TakedownSettings,
    PartnerSettings,
    HelplineSettings,
    RetentionSettings,
    ReportRemoveSettings,
    VictimIdSettings,
    StatsSettings,
    BaseSettings,
):
    """All runtime configuration: environment variables OPENHOTLINE_<NAME>, then `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="OPENHOTLINE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    def group(self, cls: type[G]) -> G:
        """This configuration's values for one domain's group."""
        return cls.model_validate({name: getattr(self, name) for name in cls.model_fields})


def masked(name: str, value: object) -> str:
    """A setting's value for display: secrets show only whether they are set."""
    if name in SECRET_FIELDS:
        if name == "database_url" and isinstance(value, str) and "@" in value:
            scheme, _, rest = value.partition("://")
            return f"{scheme}://***@{rest.rsplit('@', 1)[-1]}"
        if name == "database_url" and value:
            return str(value)
        return "(set)" if value else "(not set)"
    return repr(value) if isinstance(value, str) else str(value)


def unknown_variables(environ: dict[str, str], dotenv: dict[str, str | None]) -> list[str]:
    """OPENHOTLINE_* names in the environment or .env that are no setting (typos)."""
    known = {f"OPENHOTLINE_{name.upper()}" for name in Settings.model_fields}
    names = {n.upper() for n in [*environ, *dotenv] if n.upper().startswith("OPENHOTLINE_")}
    return sorted(names - known - KNOWN_NON_SETTINGS)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
