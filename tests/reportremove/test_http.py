"""Report Remove over HTTP: the public pages, bad uploads answered in plain words, receipts."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.config import Settings
from openhotline.reportremove.models import RemovalRequest
from tests.console_fixtures import png_bytes
from tests.reportremove.helpers import bomb_png, text_as_jpg

RECEIPT = re.compile(r'id="(reference|secret)">([0-9A-Z-]+)<')


def noise_png(side: int) -> bytes:
    """Generated noise (incompressible): a big file from a small picture."""
    rng = np.random.default_rng(side)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    """An app that takes uploads of at most 64 KiB."""
    limited = settings.model_copy(update={"report_remove_max_bytes": 64 * 1024})
    with TestClient(create_app(limited)) as c:
        yield c


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(RemovalRequest)) or 0)


def test_the_start_page_is_calm_static_and_uncached(client: TestClient) -> None:
    page = client.get("/report-remove")
    assert page.status_code == 200
    assert page.headers["cache-control"].startswith("no-store")
    assert 'id="leave-quickly"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert "<script" not in page.text
    assert 'href="/report-remove"' in client.get("/").text
    assert client.get("/report-remove/status").status_code == 200
    arabic = client.get("/report-remove?lang=ar")
    assert arabic.status_code == 200 and 'dir="rtl"' in arabic.text


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        (None, 400, "Please choose the picture"),
        ({"file": ("picture.jpg", text_as_jpg(), "image/jpeg")}, 415, "could not open this file"),
        ({"file": ("bomb.png", bomb_png(), "image/png")}, 413, "too big"),
        ({"file": ("big.png", noise_png(200), "image/png")}, 413, "too big"),
        ({"file": ("cut.png", png_bytes(1)[:400], "image/png")}, 422, "damaged"),
        ({"file": ("empty.png", b"", "image/png")}, 400, "Please choose the picture"),
    ],
)
def test_bad_uploads_get_a_clear_message_and_store_nothing(
    small: TestClient,
    session_factory: sessionmaker[Session],
    settings: Settings,
    files: dict[str, tuple[str, bytes, str]] | None,
    status: int,
    words: str,
) -> None:
    if files is None:
        answer = small.post("/report-remove", data={"other": "x"})
    else:
        answer = small.post("/report-remove", files=files)
    assert answer.status_code == status, answer.text[:300]
    assert words in answer.text and 'role="alert"' in answer.text
    assert "Traceback" not in answer.text and "Error" not in answer.text
    assert _count(session_factory) == 0
    store = settings.data_dir / "report-remove"
    assert not store.exists() or not any(store.iterdir())


def test_upload_gives_a_receipt_shown_once_and_a_status_page(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    answer = client.post("/report-remove", files={"file": ("me.png", png_bytes(4), "image/png")})
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["cache-control"].startswith("no-store")
    codes = dict(RECEIPT.findall(answer.text))
    assert set(codes) == {"reference", "secret"}
    with session_factory() as s:
        row = s.scalars(select(RemovalRequest)).one()
        assert codes["secret"].replace("-", "") not in (row.secret_hash, row.reference)
    page = client.post("/report-remove/status", data=codes)
    assert page.status_code == 200
    assert 'data-step="received"' in page.text and "Next step: contact the helpline" in page.text
    assert 'id="support"' in page.text
    wrong = client.post("/report-remove/status", data={**codes, "secret": "0000-0000"})
    assert wrong.status_code == 404 and 'id="not-found"' in wrong.text
    assert codes["secret"] not in wrong.text


def test_support_lines_come_from_settings(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"report_remove_support": ["Chat with the example helpline, 9am to 9pm"]}
    )
    with TestClient(create_app(configured)) as c:
        assert "Chat with the example helpline, 9am to 9pm" in c.get("/report-remove").text
