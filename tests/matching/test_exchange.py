"""The python-threatexchange adapter against a real `openhotline serve` on 127.0.0.1: a
threatexchange client fetches the signed hash list (snapshot, then deltas with deletions),
matches with threatexchange's own PDQ index, and refuses tampered files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

pytest.importorskip("threatexchange", reason="the [exchange] extra is not installed")

from PIL import Image
from tests.matching.test_subscriptions import (
    PNG_A,
    PNG_B,
    PNG_C,
    NoDeltas,
    Publisher,
    Tampering,
    _unconfirm,
    publisher,  # noqa: F401 - the fixture
)
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

from openhotline.assessment.banks import admit_item_hashes
from openhotline.blocklist import service as lists
from openhotline.db import transaction
from openhotline.matching.exchange import (
    TX_MANIFEST,
    OpenhotlineCheckpoint,
    OpenhotlineCollabConfig,
    OpenhotlineSignalExchangeAPI,
    OpenhotlineSignalMetadata,
)
from openhotline.matching.subscriptions import (
    HttpListFetcher,
    MissingFileError,
    SubscriptionInvalidError,
)
from openhotline.media.hashing import hash_bytes
from openhotline.media.models import Item, ItemStatus

pytestmark = pytest.mark.slow
SIGNALS = [PdqSignal, VideoMD5Signal]


def _confirm(pub: Publisher, data: bytes) -> tuple[str, str, str]:
    """A confirms an item (with its PDQ) and publishes; returns its sha256, md5, pdq."""
    hashes = hash_bytes(data)
    assert hashes.pdq
    with transaction(pub.factory) as s:
        item = Item(
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - a published list format
            sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324
            size=len(data),
            pdq=hashes.pdq,
            pdq_quality=100,
            status=ItemStatus.ASSESSED.value,
        )
        s.add(item)
        s.flush()
        admit_item_hashes(s, item, scheme="default", classification="baseline")
        lists.publish_lists(s, actor="t", provenance="Hotline AA")
        return item.sha256, item.md5, hashes.pdq


def _collab(pub: Publisher, tmp: Path) -> OpenhotlineCollabConfig:
    key_file = tmp / "aa.key"
    key_file.write_text(pub.token + "\n")
    return OpenhotlineCollabConfig(
        name="hotline-aa",
        api="openhotline",
        list_url=pub.list_url,
        api_key_file=str(key_file),
        verify_key=pub.key.public_b64,
    )


def test_threatexchange_client_follows_the_list(publisher: Publisher, tmp_path: Path) -> None:  # noqa: F811
    assert TX_MANIFEST.apis == (OpenhotlineSignalExchangeAPI,)
    _sha_a, md5_a, pdq_a = _confirm(publisher, PNG_A)
    api = OpenhotlineSignalExchangeAPI.for_collab(_collab(publisher, tmp_path))

    (first,) = list(api.fetch_iter(SIGNALS, None))
    assert first.checkpoint.version == 1 and not first.checkpoint.is_stale()
    assert set(first.updates) == {("pdq", pdq_a), ("video_md5", md5_a)}
    meta = first.updates["pdq", pdq_a]
    assert isinstance(meta, OpenhotlineSignalMetadata)
    assert (meta.classification, meta.provenance) == ("default:baseline", "Hotline AA")
    (opinion,) = meta.get_as_opinions()
    assert opinion.category.name == "POSITIVE_CLASS" and opinion.tags == {"default:baseline"}

    # The client's own in-memory store and PDQ index (what the threatexchange CLI does).
    held: dict[tuple[str, str], OpenhotlineSignalMetadata] = {}
    OpenhotlineSignalExchangeAPI.naive_fetch_merge(held, first.updates)
    (unchanged,) = list(api.fetch_iter(SIGNALS, first.checkpoint))
    assert unchanged.updates == {} and unchanged.checkpoint.version == 1

    # A confirms B and withdraws A: the delta brings B and deletes A's signals.
    _sha_b, md5_b, pdq_b = _confirm(publisher, PNG_B)
    _unconfirm(publisher, _sha_a)
    (second,) = list(api.fetch_iter(SIGNALS, first.checkpoint))
    assert second.checkpoint.version == 3
    assert second.updates["pdq", pdq_a] is None and second.updates["video_md5", md5_a] is None
    assert second.updates["pdq", pdq_b] is not None
    OpenhotlineSignalExchangeAPI.naive_fetch_merge(held, second.updates)
    assert set(held) == {("pdq", pdq_b), ("video_md5", md5_b)}

    by_type = OpenhotlineSignalExchangeAPI.naive_convert_to_signal_type(SIGNALS, api.collab, held)
    index = PdqSignal.get_index_cls().build(by_type[PdqSignal].items())
    # A re-encoded copy of B still matches in threatexchange's own PDQ index; A does not.
    buf = io.BytesIO()
    Image.open(io.BytesIO(PNG_B)).convert("RGB").save(buf, "JPEG", quality=80)
    query = hash_bytes(buf.getvalue()).pdq
    assert query and index.query(query)
    assert pdq_a == pdq_b or not [m for m in index.query(pdq_a) if m.similarity_info.distance == 0]

    # A tampered delta is refused before anything is yielded.
    _confirm(publisher, PNG_C)
    tampered = OpenhotlineSignalExchangeAPI(api.collab, api.api_key, Tampering(HttpListFetcher()))
    with pytest.raises(SubscriptionInvalidError, match="signature"):
        list(tampered.fetch_iter(SIGNALS, second.checkpoint))

    # Without the delta, the changes come from two signed snapshots (deletions included).
    no_delta = OpenhotlineSignalExchangeAPI(api.collab, api.api_key, NoDeltas(HttpListFetcher()))
    (third,) = list(no_delta.fetch_iter(SIGNALS, first.checkpoint))
    assert third.checkpoint.version == 4 and not third.checkpoint.is_stale()
    assert third.updates["pdq", pdq_a] is None and third.updates["pdq", pdq_b] is not None


class NoHistory(NoDeltas):
    """A publisher that keeps neither old deltas nor old snapshots."""

    def get(self, url: str, api_key: str):  # type: ignore[no-untyped-def]
        if "/snapshot/1." in url:
            raise MissingFileError(f"{url}: gone")
        return super().get(url, api_key)


def test_without_history_the_next_fetch_starts_clean(
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
) -> None:
    _confirm(publisher, PNG_A)
    _confirm(publisher, PNG_B)
    api = OpenhotlineSignalExchangeAPI(
        _collab(publisher, tmp_path), publisher.token, NoHistory(HttpListFetcher())
    )
    (delta,) = list(api.fetch_iter(SIGNALS, OpenhotlineCheckpoint(version=1)))
    # Every current signal, and a checkpoint that makes the client clear its copy next time.
    assert delta.checkpoint.version == 2 and delta.checkpoint.is_stale()
    assert len([k for k in delta.updates if k[0] == "pdq"]) == 2


def test_bad_collaboration_settings_are_refused(
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
) -> None:
    collab = _collab(publisher, tmp_path)
    missing = OpenhotlineCollabConfig(
        name="x", list_url=collab.list_url, api_key_file=str(tmp_path / "nope"), verify_key="k"
    )
    with pytest.raises(SubscriptionInvalidError, match="cannot read the API key file"):
        OpenhotlineSignalExchangeAPI.for_collab(missing)
    wrong_url = OpenhotlineCollabConfig(
        name="x", list_url="ftp://x", api_key_file=collab.api_key_file, verify_key="k"
    )
    with pytest.raises(SubscriptionInvalidError, match="http:// or https://"):
        OpenhotlineSignalExchangeAPI.for_collab(wrong_url)
    other_key = OpenhotlineCollabConfig(
        name="x",
        list_url=collab.list_url,
        api_key_file=collab.api_key_file,
        verify_key="MCowBQYDK2VwAyEA" + "A" * 43 + "=",
    )
    _confirm(publisher, PNG_A)
    with pytest.raises(SubscriptionInvalidError, match="differs from the pinned one"):
        list(OpenhotlineSignalExchangeAPI.for_collab(other_key).fetch_iter(SIGNALS, None))
