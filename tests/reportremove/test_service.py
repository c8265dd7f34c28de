"""Report Remove services: upload and hash, the two steps, sharing, shredding, receipts, purge."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline import db
from openhotline.accounts import service as accounts
from openhotline.assessment import exposure
from openhotline.assessment.policy import policy_from
from openhotline.audit.models import AuditEntry
from openhotline.audit.service import verify as verify_chain
from openhotline.blocklist.service import hash_list_source
from openhotline.jobs.models import Job
from openhotline.matching.models import BankEntry, HashBank
from openhotline.matching.policy import BankPolicy
from openhotline.reportremove import service
from openhotline.reportremove.models import RemovalRequest, RemovalStatus
from openhotline.reportremove.store import OneItemStore, OneItemStoreError
from tests.console_fixtures import png_bytes, sha256_hex
from tests.reportremove.helpers import LIMITS, bomb_png, text_as_jpg

POLICY = policy_from(exposure_budget_minutes=1, reveal_window_seconds=120)


@pytest.fixture
def store(tmp_path: Path) -> OneItemStore:
    return OneItemStore(tmp_path / "rr")


def _submit(factory: sessionmaker[Session], store: OneItemStore, seed: int = 1) -> service.Receipt:
    with factory.begin() as s:
        return service.submit(s, store, png_bytes(seed), LIMITS)


def _confirmed(factory: sessionmaker[Session], store: OneItemStore, seed: int = 1) -> int:
    receipt = _submit(factory, store, seed)
    with factory.begin() as s:
        service.confirm_identity(
            s,
            receipt.request_id,
            "user:cora",
            method="chat",
            under_18=True,
            identity_confirmed=True,
        )
    return receipt.request_id


def _actions(factory: sessionmaker[Session], target: str) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(AuditEntry.action).where(AuditEntry.target == target).order_by(AuditEntry.id)
            )
        )


def test_the_one_item_store_encrypts_under_its_own_key(store: OneItemStore) -> None:
    data = png_bytes(3)
    blob_id, key = store.put(data)
    other_id, other_key = store.put(data)
    assert blob_id != other_id and key != other_key
    on_disk = (store.root / blob_id).read_bytes()
    assert data not in on_disk and data[:64] not in on_disk
    assert store.get(blob_id, key) == data
    with pytest.raises(OneItemStoreError):
        store.get(blob_id, other_key)
    store.delete(blob_id)
    assert not store.exists(blob_id)
    with pytest.raises(OneItemStoreError):
        store.get("../../etc/passwd", key)


def test_bad_uploads_are_refused_with_a_code() -> None:
    cases = {
        b"": "empty",
        text_as_jpg(): "unsupported",
        bomb_png(): "too_large",
        png_bytes(1)[:300]: "corrupt",
        b"\x00" * (LIMITS.max_bytes + 1): "too_large",
    }
    for data, code in cases.items():
        with pytest.raises(service.ImageRefusedError) as info:
            service.hash_upload(data, LIMITS)
        assert info.value.code == code


def test_upload_hashes_at_once_and_the_receipt_needs_its_secret(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    data = png_bytes(5)
    with session_factory.begin() as s:
        receipt = service.submit(s, store, data, LIMITS)
    with session_factory() as s:
        row = s.get(RemovalRequest, receipt.request_id)
        assert row is not None
        assert row.sha256 == sha256_hex(data) and len(row.pdq) == 64 and len(row.md5) == 32
        assert row.status == RemovalStatus.RECEIVED
        assert receipt.secret not in row.secret_hash  # only a hash of the secret is kept
        assert row.blob_id and row.image_key and store.get(row.blob_id, row.image_key) == data
        assert service.public_status(s, receipt.reference, "WRONG" * 4) is None
        assert service.public_status(s, "0" * 20, receipt.secret) is None
        found = service.public_status(s, receipt.reference.lower(), receipt.secret)
        assert found is not None and found.status == RemovalStatus.RECEIVED
        assert [st.key for st in found.steps if st.at] == ["received"]
    assert _actions(session_factory, f"removal:{receipt.request_id}") == ["removal.received"]


def test_counsellor_must_confirm_both_or_decline(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    receipt = _submit(session_factory, store)
    with session_factory.begin() as s:
        for kwargs in (
            {"method": "chat", "under_18": True, "identity_confirmed": False},
            {"method": "chat", "under_18": False, "identity_confirmed": True},
            {"method": "carrier pigeon", "under_18": True, "identity_confirmed": True},
        ):
            with pytest.raises(service.RemovalInvalidError):
                service.confirm_identity(s, receipt.request_id, "user:cora", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(service.RemovalInvalidError):
            service.decline(s, receipt.request_id, "user:cora", "because")
        blob = service.decline(s, receipt.request_id, "user:cora", "age_not_confirmed")
    assert blob is not None
    store.delete(blob)
    with session_factory() as s:
        row = s.get(RemovalRequest, receipt.request_id)
        assert row is not None and row.status == RemovalStatus.DECLINED
        assert row.image_key is None and row.blob_id is None and row.image_deleted_at is not None
        status = service.public_status(s, receipt.reference, receipt.secret)
        assert status is not None and status.closed_reason == "age_not_confirmed"
        with pytest.raises(service.RemovalConflictError):
            service.confirm_identity(
                s,
                receipt.request_id,
                "user:cora",
                method="chat",
                under_18=True,
                identity_confirmed=True,
            )
    assert not store.blob_ids()
    assert _actions(session_factory, f"removal:{receipt.request_id}") == [
        "removal.received", "removal.declined", "removal.image_deleted",
    ]  # fmt: skip


def test_verify_shares_hashes_in_the_published_bank_and_shreds_the_image(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    request_id = _confirmed(session_factory, store)
    with session_factory.begin() as s:
        with pytest.raises(service.RemovalInvalidError):
            service.verify(s, request_id, "user:ana", POLICY, "not_illegal")
        with pytest.raises(service.RemovalConflictError):
            service.decline(s, request_id, "user:cora", "no_contact")
        blob = service.verify(s, request_id, "user:ana", POLICY, "baseline")
    assert blob is not None and store.exists(blob)
    store.delete(blob)
    with session_factory() as s:
        row = s.get(RemovalRequest, request_id)
        assert row is not None and row.status == RemovalStatus.COMPLETED
        assert row.image_key is None and row.blob_id is None
        assert row.classification == "default:baseline" and row.shared_at is not None
        bank = s.scalar(select(HashBank).where(HashBank.name == service.SELF_GENERATED_BANK))
        assert bank is not None and bank.policy == BankPolicy.REVIEW_WITH_HINT
        entries = {
            (e.hash_type, e.hash_value)
            for e in s.scalars(select(BankEntry).where(BankEntry.bank_id == bank.id))
        }
        assert ("sha256", row.sha256) in entries and ("md5", row.md5) in entries
        assert ("pdq", row.pdq) in entries and ("sha1", row.sha1) in entries
        listed = hash_list_source(s, "Test Hotline")
        assert listed[row.sha256] == (
            None, row.md5, row.sha1, row.pdq, "default:baseline", "Test Hotline",
        )  # fmt: skip
        kinds = list(s.scalars(select(Job.kind)))
        assert "lists.publish" in kinds
        done = service.public_status(s, row.reference, "x")
        assert done is None
        assert verify_chain(s).ok
    assert _actions(session_factory, f"removal:{request_id}") == [
        "removal.received", "removal.identity_confirmed", "removal.shared", "removal.image_deleted",
    ]  # fmt: skip


def test_reject_shreds_and_tells_the_child(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    request_id = _confirmed(session_factory, store)
    with session_factory.begin() as s:
        with pytest.raises(service.RemovalInvalidError):
            service.reject(s, request_id, "user:ana", "ugly")
        blob = service.reject(s, request_id, "user:ana", "out_of_remit")
    assert blob
    with session_factory() as s:
        row = s.get(RemovalRequest, request_id)
        assert row is not None and row.status == RemovalStatus.REJECTED and row.image_key is None
        assert service.SELF_GENERATED_BANK not in {b.name for b in s.scalars(select(HashBank))}


def test_reveals_share_the_exposure_budget(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    request_id = _confirmed(session_factory, store)
    with session_factory.begin() as s:
        user = accounts.create_user(
            s, "ana", "correct horse battery staple", "analyst", actor="t"
        ).user
        user_id = user.id
    with session_factory.begin() as s:
        rev = service.reveal(s, request_id, user_id, "user:ana", POLICY)
        assert rev.ends_at - rev.started_at == timedelta(seconds=60)  # budget left < window
        assert service.live_reveal(s, user_id, request_id) is not None
        # Pretend the whole minute went by: the budget is used up.
        rev.started_at -= timedelta(seconds=61)
        rev.ends_at -= timedelta(seconds=1)
    with session_factory.begin() as s:
        assert service.budget_of(s, user_id, POLICY).exhausted
        # The assessment console's own check sees the same budget used up.
        assert exposure.budget_of(s, user_id, POLICY).exhausted
        assert exposure.budget_of(s, user_id, POLICY).used_seconds >= 60
    with session_factory.begin() as s, pytest.raises(service.RemovalForbiddenError):
        service.reveal(s, request_id, user_id, "user:ana", POLICY)
    actions = _actions(session_factory, f"removal:{request_id}")
    assert actions[-2:] == ["removal.reveal", "removal.reveal_refused"]


def test_purge_expires_unclaimed_requests_and_sweeps_stray_blobs(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    old = _submit(session_factory, store, 1)
    fresh = _submit(session_factory, store, 2)
    with session_factory.begin() as s:
        row = s.get(RemovalRequest, old.request_id)
        assert row is not None
        row.created_at = db.now(s) - timedelta(days=31)
    stray, _key = store.put(png_bytes(9))
    import os

    os.utime(store.root / stray, (0, 0))
    from openhotline.reportremove.tasks import run_purge

    result, strays = run_purge(session_factory, store, unclaimed_days=30, image_days=60)
    assert result.expired == 1 and strays == 1
    with session_factory() as s:
        gone = s.get(RemovalRequest, old.request_id)
        kept = s.get(RemovalRequest, fresh.request_id)
        assert gone is not None and gone.status == RemovalStatus.EXPIRED and gone.image_key is None
        assert kept is not None and kept.status == RemovalStatus.RECEIVED and kept.blob_id
        assert store.blob_ids() == [kept.blob_id]


def test_a_generated_jpeg_hashes_like_the_media_domain(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    from openhotline.media.service import hash_file

    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(buf, format="JPEG")
    img = png_bytes(7)
    assert service.hash_upload(img, LIMITS).pdq == hash_file(img).pdq
    assert json.dumps(service.hash_upload(buf.getvalue(), LIMITS).format) == '"JPEG"'


def test_the_daily_purge_is_queued_only_when_it_has_work(
    session_factory: sessionmaker[Session], store: OneItemStore
) -> None:
    due = {"unclaimed_days": 30, "image_days": 60}
    with session_factory() as s:
        assert not service.purge_due(s, store, **due)
    receipt = _submit(session_factory, store)
    with session_factory() as s:
        assert not service.purge_due(s, store, **due)  # one file, one key held
    store.put(png_bytes(8))  # a file no request holds a key for
    with session_factory() as s:
        assert service.purge_due(s, store, **due)
    for blob_id in store.blob_ids():
        store.delete(blob_id)
    with session_factory.begin() as s:
        row = s.get(RemovalRequest, receipt.request_id)
        assert row is not None
        row.blob_id = None
        row.created_at = db.now(s) - timedelta(days=61)
        assert service.purge_due(s, store, **due)


def test_cli_purge(
    session_factory: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from openhotline.cli import app
    from openhotline.config import get_settings

    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        store = OneItemStore(tmp_path / "var" / "report-remove")
        receipt = _submit(session_factory, store)
        with session_factory.begin() as s:
            row = s.get(RemovalRequest, receipt.request_id)
            assert row is not None
            row.created_at = db.now(s) - timedelta(days=90)
        result = CliRunner().invoke(app, ["report-remove", "purge"])
        assert result.exit_code == 0, result.output
        assert "expired 1 requests, deleted 1 images" in result.output
        assert store.blob_ids() == []
    finally:
        get_settings.cache_clear()
