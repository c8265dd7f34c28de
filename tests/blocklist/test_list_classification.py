"""Hash-list rows carry the classification and the publisher as provenance, nothing internal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist import service
from openhotline.blocklist.models import ListKind
from openhotline.blocklist.tasks import rebuild_lists
from openhotline.config import Settings
from openhotline.signing.service import generate
from tests.blocklist.helpers import confirmed_item


def test_hash_rows_carry_classification_and_provenance(
    session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    named = settings.model_copy(update={"hotline_name": "Test hotline"})
    with session_factory.begin() as s:
        item = confirmed_item(s, 21)  # admitted as "default:baseline" from item:<id>
    assert rebuild_lists(session_factory, named)["hashes"] == 1
    key = generate(tmp_path)
    with session_factory() as s:
        as_json = service.snapshot_file(s, ListKind.HASHES, 1, "json", key, None).data
        as_csv = service.snapshot_file(s, ListKind.HASHES, 1, "csv", key, None).data
    (entry,) = json.loads(as_json)["entries"]
    assert entry["sha256"] == item.sha256
    assert (entry["classification"], entry["provenance"]) == ("default:baseline", "Test hotline")
    lines = [ln for ln in as_csv.decode().splitlines() if not ln.startswith("#")]
    (row,) = csv.DictReader(io.StringIO("\n".join(lines)))
    assert (row["classification"], row["provenance"]) == ("default:baseline", "Test hotline")
    assert b"item:" not in as_json and b"item:" not in as_csv  # the bank's internal source
