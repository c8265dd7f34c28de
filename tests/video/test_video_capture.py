"""Video end to end on 127.0.0.1: a page with a <video>, a report, the capture job, vPDQ, banks.

The clip is generated (moving shapes over gradients and noise); the bank holds the vPDQ of a
copy re-encoded at another bitrate and resized, as a partner's list would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("vpdq", reason="the [video] extra (vpdq + libav*) is not installed")

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import Assessment, AssessmentKind
from openhotline.audit.models import AuditEntry
from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs.queue import build_queue
from openhotline.matching import service as banks
from openhotline.matching import video as vbanks
from openhotline.matching.models import BankHint, HashType
from openhotline.matching.policy import BankPolicy
from openhotline.media.models import Item, ItemStatus, ItemVideo, VideoState
from openhotline.media.video import hash_video
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.pipeline_support import LocalSite
from tests.video import synth

HOSTS = {"videos.test": ["127.0.0.1"]}


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    original = synth.clip(d / "original.mp4", seed=11)
    return {
        "original": original,
        "variant": synth.reencode(original, d / "variant.mp4", scale=0.6),
        "unrelated": synth.clip(d / "unrelated.mp4", seed=12),
    }


def _capture(
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    served: Path,
    bank_video: Path | None,
    policy: BankPolicy | None = None,
) -> tuple[Case, Item]:
    site.html("/watch", '<html><body><video controls src="/clip.mp4"></video></body></html>')
    site.media("/clip.mp4", served.read_bytes(), content_type="video/mp4")
    with transaction(session_factory) as session:
        if bank_video is not None:
            bank = banks.create_bank(session, "partner-videos")
            vbanks.add_video(
                session, bank, hash_video(bank_video).frames, source="partner",
                classification="A1",
            )  # fmt: skip
            if policy is not None:
                banks.set_policy(session, bank, policy, actor="admin")
                banks.set_mapping(
                    session, bank, {"A1": "baseline"}, actor="admin", local_scheme="default"
                )
        submit_report(session, ReportIn(urls=[site.url("/watch", "videos.test")]))
    s = settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "dns_overrides": HOSTS}
    )
    rt = build_services(s)
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()  # the worker's code path
    rt.close()
    with session_factory() as session:
        case = session.execute(select(Case)).scalar_one()
        item = session.execute(select(Item)).scalar_one()
        session.expunge_all()
    return case, item


def test_captured_video_matches_a_trusted_video_bank_and_is_auto_assessed(
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    clips: dict[str, Path],
) -> None:
    case, item = _capture(
        settings, session_factory, site, clips["original"], clips["variant"],
        BankPolicy.AUTO_ASSESS,
    )  # fmt: skip
    assert item.media_type == "video/mp4"
    assert item.status == ItemStatus.AUTO_ASSESSED
    assert case.status == CaseStatus.ASSESSED
    with session_factory() as session:
        video = session.get(ItemVideo, item.id)
        assert video is not None and video.state == VideoState.HASHED
        assert video.frame_count == 8 and len(video.frames.splitlines()) == 8
        (assessment,) = session.scalars(select(Assessment).where(Assessment.item_id == item.id))
        assert assessment.kind == AssessmentKind.AUTOMATIC
        assert assessment.classification == "baseline"
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "capture.auto_assessed")
        ).one()
        assert "vPDQ" in audit.details and "% of frames" in audit.details


def test_review_bank_leaves_a_vpdq_hint(
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    clips: dict[str, Path],
) -> None:
    case, item = _capture(settings, session_factory, site, clips["original"], clips["variant"])
    assert item.status == ItemStatus.NEW and case.status == CaseStatus.TRIAGE
    with session_factory() as session:
        (hint,) = session.scalars(select(BankHint))
        assert hint.hash_type == HashType.VPDQ.value and hint.distance <= 20
        assert hint.policy == BankPolicy.REVIEW_WITH_HINT


def test_unrelated_video_does_not_match(
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    clips: dict[str, Path],
) -> None:
    case, item = _capture(
        settings, session_factory, site, clips["unrelated"], clips["variant"],
        BankPolicy.AUTO_ASSESS,
    )  # fmt: skip
    assert item.status == ItemStatus.NEW and case.status == CaseStatus.TRIAGE
    with session_factory() as session:
        assert session.scalars(select(BankHint)).all() == []


def test_frame_share_threshold_is_per_bank(
    settings: Settings,
    session_factory: sessionmaker[Session],
    clips: dict[str, Path],
) -> None:
    """A bank asking for more of the bank video than a trimmed query covers does not match."""
    from openhotline.matching.engine import MatchEngine

    full = hash_video(clips["original"]).frames
    half = full[: len(full) // 2]
    with transaction(session_factory) as session:
        bank = banks.create_bank(session, "strict")
        vbanks.add_video(session, bank, full, classification="A1")
    engine = MatchEngine(session_factory, None)
    with session_factory() as session:
        (m,) = vbanks.match_video(session, engine, half)
        assert m.query_share == 1.0 and m.target_share == 0.5
        assert m.how == "vPDQ, 100% of frames"
    with transaction(session_factory) as session:
        vbanks.set_vpdq_shares(session, banks.get_bank(session, "strict"), None, 0.9)
    with session_factory() as session:
        assert vbanks.match_video(session, engine, half) == []
    with transaction(session_factory) as session:
        bank = banks.get_bank(session, "strict")
        assert vbanks.remove_video(session, bank, m.digest, "test") == 1
        vbanks.set_vpdq_shares(session, bank, None, 0.0)
    with session_factory() as session:
        assert vbanks.match_video(session, engine, half) == []  # removed: gone from the index


def test_confirmed_video_enters_the_confirmed_bank_and_its_copies_are_known(
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    clips: dict[str, Path],
) -> None:
    """Four eyes confirm a video: its vPDQ goes to "confirmed"; a re-encoded copy then matches."""
    from openhotline.assessment import banks as confirmed

    _, item = _capture(settings, session_factory, site, clips["original"], None)
    with transaction(session_factory) as session:
        stored = session.get(Item, item.id)
        assert stored is not None
        added = confirmed.admit_item_hashes(
            session, stored, scheme="default", classification="baseline"
        )
        assert added == 4  # sha256, md5, sha1 and the vpdq entry (no PDQ for a video)
    site.html("/mirror", '<html><body><video src="/copy.mp4"></video></body></html>')
    site.media("/copy.mp4", clips["variant"].read_bytes(), content_type="video/mp4")
    with transaction(session_factory) as session:
        submit_report(session, ReportIn(urls=[site.url("/mirror", "videos.test")]))
    s = settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "dns_overrides": HOSTS}
    )
    rt = build_services(s)
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
    rt.close()
    with session_factory() as session:
        copy = session.scalars(select(Item).where(Item.id != item.id)).one()
        assert copy.status == ItemStatus.AUTO_ASSESSED
        (a,) = session.scalars(select(Assessment).where(Assessment.item_id == copy.id))
        assert (a.scheme, a.classification) == ("default", "baseline")


def test_cropped_copy_matches_through_frame_guesses(
    session_factory: sessionmaker[Session], clips: dict[str, Path], tmp_path: Path
) -> None:
    """vPDQ alone misses a 10% crop (PDQ is not crop-robust); the frames' guesses catch it."""
    import cv2

    from openhotline.matching.engine import MatchEngine

    cap = cv2.VideoCapture(str(clips["original"]))
    cropped = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        dy, dx = round(h * 0.05), round(w * 0.05)
        cropped.append(cv2.cvtColor(bgr[dy : h - dy, dx : w - dx], cv2.COLOR_BGR2RGB))
    cap.release()
    query = hash_video(synth.write(tmp_path / "cropped.mp4", cropped))
    assert query.guesses and all(len(g) == 7 for g in query.guesses.values())
    with transaction(session_factory) as session:
        bank = banks.create_bank(session, "videos")
        vbanks.add_video(session, bank, hash_video(clips["original"]).frames)
    engine = MatchEngine(session_factory, None)
    with session_factory() as session:
        assert vbanks.match_video(session, engine, query.frames) == []  # plain vPDQ
        (m,) = vbanks.match_video(session, engine, query.frames, guesses=query.guesses)
        assert m.query_share >= 0.8
        unrelated = hash_video(clips["unrelated"])
        assert vbanks.match_video(session, engine, unrelated.frames, None, unrelated.guesses) == []
