"""Fixtures for the console: staff users, logged-in HTTP clients, generated media items."""

from __future__ import annotations

import hashlib
import io
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts import service as accounts
from openhotline.app import create_app
from openhotline.cases.models import Case
from openhotline.clock import SYSTEM_CLOCK, Clock
from openhotline.config import Settings
from openhotline.db import now as db_now
from openhotline.db import transaction
from openhotline.media.models import CaseItem, Item
from openhotline.media.service import hash_file
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report, url_hash
from openhotline.urls import canonicalize_url

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Staff:
    """A test user with the secrets needed to log in."""

    id: int
    username: str
    role: str
    totp_secret: str
    recovery_codes: list[str]
    password: str = PASSWORD
    clock: Clock = SYSTEM_CLOCK
    _offset: int = field(default=-1)

    def code(self) -> str:
        """Return a TOTP code not used before by this user in this test (±1 step window)."""
        self._offset += 1
        if self._offset > 1:
            raise RuntimeError("more than 3 logins of one user in one test: wait 30 s")
        totp = pyotp.TOTP(self.totp_secret)
        return totp.generate_otp(totp.timecode(self.clock.now()) + self._offset)


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    """Settings for console tests: cookies usable over http://testserver and 127.0.0.1."""
    return settings.model_copy(update={"session_cookie_secure": False})


@pytest.fixture
def make_user(session_factory: sessionmaker[Session], clock: Clock) -> Callable[..., Staff]:
    """Create a staff user: make_user('alice', 'analyst')."""

    def _make(username: str, role: str = "analyst") -> Staff:
        with transaction(session_factory) as s:
            created = accounts.create_user(s, username, PASSWORD, role, actor="test")
            return Staff(
                created.user.id,
                username,
                role,
                created.totp_secret,
                created.recovery_codes,
                clock=clock,
            )

    return _make


def csrf_of(html: str) -> str:
    """Return the CSRF token embedded in a page."""
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in page"
    return match.group(1)


def login(client: TestClient, user: Staff, code: str | None = None) -> str:
    """Log a user in through the form; return the console CSRF token."""
    page = client.get("/console/login")
    assert page.status_code == 200, page.text
    response = client.post(
        "/console/login",
        data={
            "username": user.username,
            "password": user.password,
            "code": code or user.code(),
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/console/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


@pytest.fixture
def console_app(console_settings: Settings, clock: Clock) -> Iterator[TestClient]:
    """An HTTP client on a console-ready app."""
    with TestClient(create_app(console_settings, clock=clock)) as c:
        yield c


@pytest.fixture
def new_client(console_settings: Settings, clock: Clock) -> Iterator[Callable[[], TestClient]]:
    """Make more clients (one per user) on one app."""
    app = create_app(console_settings, clock=clock)
    clients: list[TestClient] = []

    def _new() -> TestClient:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        return c

    yield _new
    for c in clients:
        c.__exit__(None, None, None)


def generated_image(seed: int, size: int = 256) -> Image.Image:
    """A generated picture (gradient, lines, shapes from a seed): benign test media only."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256))
    draw = ImageDraw.Draw(img)
    for _ in range(24):
        x0, y0 = rng.randrange(size), rng.randrange(size)
        x1, y1 = rng.randrange(size), rng.randrange(size)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=rng.randrange(2, 9))
        else:
            box = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
            draw.ellipse(box, fill=colour)
    return img


def png_bytes(seed: int, size: int = 256) -> bytes:
    """A generated PNG (see generated_image)."""
    buf = io.BytesIO()
    generated_image(seed, size).save(buf, format="PNG")
    return buf.getvalue()


def near_copy(seed: int) -> bytes:
    """The same generated picture, downscaled and re-encoded as JPEG (a near duplicate)."""
    buf = io.BytesIO()
    generated_image(seed).resize((200, 200)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def sha256_hex(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class Items:
    """Creates cases (through the reporting service) and generated-image items at them."""

    factory: sessionmaker[Session]
    store: Any

    def case(self, url: str, *, child_in_danger: bool = False, **report: Any) -> int:
        """File a report for url and return its case id."""
        source = report.pop("source", "public")
        with transaction(self.factory) as s:
            data = ReportIn(urls=[url], child_in_danger=child_in_danger, **report)
            submit_report(s, data, source=source)
            key = url_hash(canonicalize_url(url))
            return int(s.execute(select(Case.id).where(Case.url_hash == key)).scalar_one())

    def item(
        self, seed: int, case_id: int | None = None, *, source: str = "crawler", data: bytes = b""
    ) -> int:
        """Store a generated PNG (encrypted) as an item, optionally seen at a case."""
        blob = data or png_bytes(seed)
        hashes = hash_file(blob)  # the real hashing path: MD5, SHA-1, SHA-256, PDQ
        digest = hashes.sha256
        with transaction(self.factory) as s:
            existing = s.execute(select(Item.id).where(Item.sha256 == digest)).scalar()
            if existing is None:
                item = Item(
                    sha256=digest,
                    md5=hashes.md5,
                    sha1=hashes.sha1,
                    pdq=hashes.pdq,
                    pdq_quality=hashes.pdq_quality,
                    weak=hashes.weak,
                    size=len(blob),
                    media_type=f"image/{hashes.format.lower()}",
                    storage_key=self.store.put(digest, blob),
                    source=source,
                    created_at=db_now(s),
                )
                s.add(item)
                s.flush()
                existing = item.id
            if case_id is not None:
                s.add(CaseItem(case_id=case_id, item_id=existing, captured_at=db_now(s)))
            return int(existing)


@pytest.fixture
def items(session_factory: sessionmaker[Session], console_settings: Settings) -> Items:
    """Make cases and items (media encrypted with the app's key)."""
    from openhotline.keys import load_or_create_aes_key
    from openhotline.media.store import EncryptedFileStore

    key = load_or_create_aes_key(console_settings.data_dir / "keys" / "media.key")
    store = EncryptedFileStore(console_settings.data_dir / "media", key)
    return Items(session_factory, store)
