"""Automatic (takedown-routed) referrals carry each item's assessment, never who graded it."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import Assessment, AssessmentKind, ItemReview, ReviewState
from openhotline.config import FederationPeer, Settings
from openhotline.db import now as db_now
from openhotline.federation import service
from openhotline.federation.models import OutboxMessage
from openhotline.federation.schemas import ReferralBody
from openhotline.media.models import CaseItem
from openhotline.takedown.models import Referral as TakedownReferral
from openhotline.takedown.models import ReferralKind
from tests.blocklist.helpers import confirmed_case, confirmed_item


def test_automatic_referral_carries_the_assessment(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    peers = {"NL": FederationPeer(base_url="http://127.0.0.1:9", api_key="k", public_key="x")}
    configured = settings.model_copy(update={"federation_peers": peers})
    with session_factory.begin() as s:
        case = confirmed_case(s, "http://hosted-nl.example.test/a")
        graded, ungraded = confirmed_item(s, 5), confirmed_item(s, 6)
        now = db_now(s)
        for item in (graded, ungraded):
            s.add(CaseItem(case_id=case.id, item_id=item.id))
        s.add(
            Assessment(
                item_id=graded.id, user_id=None, kind=AssessmentKind.GRADE, scheme="default",
                classification="baseline", illegal=True,
                fields=json.dumps({"age_band": "pubescent"}), created_at=now,
            )
        )  # fmt: skip
        s.add(
            ItemReview(
                item_id=graded.id, state=ReviewState.DECIDED, classification="baseline",
                illegal=True, automatic=False, queued_at=now, decided_at=now,
            )
        )  # fmt: skip
        s.add(
            TakedownReferral(
                case_id=case.id,
                kind=ReferralKind.PARTNER_HOTLINE,
                destination="hotline-NL",
                country="NL",
            )
        )
        shas = graded.sha256, ungraded.sha256
    with session_factory.begin() as s:
        assert service.dispatch_takedown_referrals(s, configured) == 1
    with session_factory() as s:
        body = json.loads(s.execute(select(OutboxMessage.body)).scalar_one())
    items = {i["sha256"]: i for i in body["items"]}
    assert items[shas[0]]["scheme"] == "default"
    assert items[shas[0]]["classification"] == "baseline"
    assert items[shas[0]]["illegal"] is True and items[shas[0]]["automatic"] is False
    assert items[shas[0]]["age_band"] == "pubescent"
    assert items[shas[1]]["classification"] is None  # not decided: nothing claimed
    assert "confirmers" not in json.dumps(body)  # who graded stays at the sender
    assert body["classification"] == {"scheme": "default", "label": "baseline"}
    ReferralBody.model_validate(body)  # the receiver's schema accepts it
