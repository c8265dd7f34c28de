"""A received referral's graded hashes enter the sender's bank; its policy decides the rest."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import banks as assessment_banks
from openhotline.assessment import service as assessment
from openhotline.assessment.models import Assessment
from openhotline.config import Settings
from openhotline.db import now as db_now
from openhotline.federation import service
from openhotline.federation.schemas import ReferralBody
from openhotline.matching import service as matching
from openhotline.matching.models import HashType
from openhotline.matching.policy import BankPolicy, BankSource
from openhotline.media.models import Item, ItemStatus


def _body(sha: str, md5: str) -> ReferralBody:
    return ReferralBody.model_validate(
        {
            "type": "referral", "message_id": str(uuid.uuid4()),
            "referral_id": str(uuid.uuid4()), "sender": "AA", "recipient": "BB",
            "sent_at": "2026-12-01T06:00:00+00:00", "urls": ["http://h.example.test/g"],
            "classification": {"scheme": "default", "label": "baseline"},
            "items": [
                {"sha256": sha, "md5": md5, "scheme": "default", "classification": "baseline",
                 "illegal": True, "automatic": False, "age_band": "pubescent"},
                {"sha256": "c" * 64},  # ungraded: not banked
            ],
        }
    )  # fmt: skip


def _item(s: Session, data: bytes) -> Item:
    item = Item(
        sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(),  # noqa: S324
        sha1=hashlib.sha1(data).hexdigest(), size=len(data), status=ItemStatus.NEW,  # noqa: S324
        media_type="image/png", created_at=db_now(s),
    )  # fmt: skip
    s.add(item)
    s.flush()
    return item


def test_referred_hashes_hint_by_default_and_assess_when_trusted(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    here = settings.model_copy(update={"own_countries": ["BB"]})
    first, second = b"generated-one", b"generated-two"
    with session_factory.begin() as s:
        for data in (first, second):
            sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()  # noqa: S324
            service.receive_referral(s, _body(sha, md5), here, actor="peer:AA")
        bank = matching.get_bank(s, service.referral_bank_name("AA"))
        assert (bank.source, bank.policy) == (BankSource.PARTNER, BankPolicy.REVIEW_WITH_HINT)
        assert {e.hash_type for e in matching.iter_entries(s, bank)} == {"sha256", "md5"}
        assert bank.last_synced_at is not None
        # The same material captured here: by default, a hint with the sender's grade.
        item = _item(s, first)
        found = matching.exact_matches(s, {HashType.SHA256: item.sha256})
        assert assessment.assess_automatically(s, item, found) is None
        ((hint, name),) = matching.hints_for(s, item.id)
        assert (name, hint.classification) == ("hotline-AA", "default:baseline")
        assert item.status == ItemStatus.NEW
        # An admin trusts AA and maps its classes: the next copy is assessed automatically.
        matching.set_policy(s, bank, BankPolicy.AUTO_ASSESS, actor="user:root")
        assessment_banks.map_bank_classes(
            s, bank.name, {"default:baseline": "baseline"}, "default", actor="user:root"
        )
        other = _item(s, second)
        found = matching.exact_matches(s, {HashType.MD5: other.md5})
        done = assessment.assess_automatically(s, other, found)
        assert done is not None and (done.scheme, done.classification) == ("default", "baseline")
        assert other.status == ItemStatus.AUTO_ASSESSED
        grade = s.scalars(select(Assessment).where(Assessment.item_id == other.id)).one()
        assert grade.classification == "baseline" and grade.illegal
