"""The real worker process on the product's central promise: known material is never shown.

The worker once failed every capture of a bank match with "could not find table 'users'"
because its process never imported every model; the tests imported them all and passed.
This test runs `openhotline worker` as a separate process, as an operator would.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import queue
from openhotline.assessment.banks import confirmed_bank
from openhotline.cases.models import Case, CaseStatus
from openhotline.db import transaction
from openhotline.jobs.models import Job, JobStatus
from openhotline.matching import service as banks
from openhotline.matching.models import HashType
from openhotline.media import service as media_service
from openhotline.media.models import Item, ItemStatus
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.pipeline_support import LocalSite

HOST = "known.example.test"


def _smooth_image(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """A generated picture of blurred discs: like a photo, PDQ-stable under re-encoding."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(256),) * 3)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(20, 90)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    buf = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(3)).save(buf, "PNG")
    return buf.getvalue()


def _resized_jpeg(png: bytes) -> bytes:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    img.resize((img.width * 3, img.height * 3)).save(buf, "JPEG", quality=75)
    return buf.getvalue()


def test_worker_process_auto_assesses_a_reencoded_bank_match(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    original = _smooth_image(2)
    served = _resized_jpeg(original)  # a different file: only the PDQ can match it
    site = LocalSite().start()
    try:
        site.html("/page", '<html><body><img src="/photo.jpg"></body></html>')
        site.media("/photo.jpg", served, content_type="image/jpeg")
        with transaction(session_factory) as s:
            # The own confirmed bank (policy auto_assess), entries in the local scheme.
            bank = confirmed_bank(s)
            pdq = media_service.hash_file(original).pdq
            banks.add_entry(
                s, bank, HashType.PDQ, pdq, source="test", classification="default:baseline"
            )
            submit_report(s, ReportIn(urls=[site.url("/page", HOST)]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHOTLINE_")}
        env.update(
            OPENHOTLINE_DATABASE_URL=db_url,
            OPENHOTLINE_DATA_DIR=str(tmp_path / "var"),
            OPENHOTLINE_CRAWLER_ALLOW_NETWORKS=json.dumps(["127.0.0.0/8"]),
            OPENHOTLINE_DNS_OVERRIDES=json.dumps({HOST: ["127.0.0.1"]}),
            OPENHOTLINE_JOB_BACKOFF_SECONDS="0",
        )
        result = subprocess.run(
            [sys.executable, "-m", "openhotline", "worker", "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        site.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    with session_factory() as s:
        job = s.execute(select(Job).where(Job.kind == "capture.case")).scalar_one()
        assert job.status == JobStatus.DONE, job.last_error
        assert job.attempts == 1
        case = s.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.ASSESSED  # actioned by the match, no analyst
        item = s.execute(select(Item)).scalar_one()
        assert item.status == ItemStatus.AUTO_ASSESSED
        assert queue.queue_counts(s).get("grade", 0) == 0  # never queued for a person
