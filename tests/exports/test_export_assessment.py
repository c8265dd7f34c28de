"""Police packages carry the assessment: scheme, class, confirmers (user ids), age band."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import Assessment, AssessmentKind, ItemReview, ReviewState
from openhotline.bootstrap import build
from openhotline.config import Settings
from openhotline.db import now as db_now
from openhotline.exports import service
from openhotline.media.models import CaseItem, Item
from tests.console_fixtures import Staff, png_bytes, sha256_hex


def _item(s: Session, case_id: int, seed: int) -> Item:
    data = png_bytes(seed)
    item = Item(
        sha256=sha256_hex(data), md5=f"{seed:032x}", sha1=f"{seed:040x}", size=len(data),
        status="assessed", media_type="image/png",
    )  # fmt: skip
    s.add(item)
    s.flush()
    s.add(CaseItem(case_id=case_id, item_id=item.id, media_url=f"http://h.example.test/{seed}"))
    return item


def _grade(
    s: Session, item: Item, user_id: int | None, kind: AssessmentKind, **fields: str
) -> None:
    s.add(
        Assessment(
            item_id=item.id, user_id=user_id, kind=kind, scheme="default",
            classification="baseline", illegal=True, fields=json.dumps(fields),
            created_at=db_now(s),
        )
    )  # fmt: skip


def test_police_package_holds_the_assessment(
    settings: Settings,
    session_factory: sessionmaker[Session],
    make_user: Callable[..., Staff],
) -> None:
    from openhotline.cases.models import CaseStatus
    from tests.blocklist.helpers import confirmed_case

    ana, ben = make_user("ana"), make_user("ben")
    services = build(settings)
    with session_factory.begin() as s:
        case = confirmed_case(s, "http://h.example.test/gallery", CaseStatus.ACTIONED)
        graded, automatic, open_item = (_item(s, case.id, n) for n in (1, 2, 3))
        _grade(s, graded, ana.id, AssessmentKind.GRADE, age_band="pubescent", site_type="forum")
        _grade(s, graded, ben.id, AssessmentKind.GRADE, age_band="pubescent")
        _grade(s, automatic, None, AssessmentKind.AUTOMATIC, bank="confirmed")
        now = db_now(s)
        for item, auto in ((graded, False), (automatic, True)):
            s.add(
                ItemReview(
                    item_id=item.id, state=ReviewState.DECIDED, classification="baseline",
                    illegal=True, automatic=auto, queued_at=now, decided_at=now,
                )
            )  # fmt: skip
        s.add(ItemReview(item_id=open_item.id, state=ReviewState.OPEN, queued_at=now))
        case_id = case.id
        shas = graded.sha256, automatic.sha256, open_item.sha256
    with session_factory.begin() as s:
        package = service.police_export(
            s, case_id, services.signer, actor="user:sue", hotline="Test hotline"
        )
    manifest = service.verify_package(package.data, services.signer.public_b64)
    assert "assessment.json" in {f["path"] for f in manifest["files"]}  # signed like the rest
    zf = zipfile.ZipFile(io.BytesIO(package.data))
    rows = {r["sha256"]: r for r in json.loads(zf.read("assessment.json"))}
    by_hand = rows[shas[0]]
    assert by_hand["scheme"] == "default" and by_hand["classification"] == "baseline"
    assert by_hand["confirmers"] == sorted([ana.id, ben.id]) and not by_hand["automatic"]
    assert by_hand["age_band"] == "pubescent" and by_hand["illegal"] is True
    auto = rows[shas[1]]
    assert auto["automatic"] and auto["confirmers"] == [] and auto["bank"] == "confirmed"
    assert rows[shas[2]] == {"sha256": shas[2], "state": "open"}
    assert b"ana" not in zf.read("assessment.json")  # ids, never names
    services.close()
