"""Series packages between two openhotline instances on 127.0.0.1 (uvicorn in threads).

AA builds a series (items, fields, clues) and sends its signed package to BB's API; BB
verifies it with AA's public key and makes the series, whose hashes it now matches; BB's
own export of it carries the same hashes and fields. A tampered package is refused.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openhotline.bootstrap import Services, build
from openhotline.config import FederationPeer, Settings
from openhotline.db import transaction
from openhotline.exports.service import read_package, verify_package
from openhotline.matching.models import BankEntry
from openhotline.media.models import Item
from openhotline.migrate import upgrade
from openhotline.partners import service as partners
from openhotline.victimid import package, service
from openhotline.victimid.models import VictimStatus
from openhotline.victimid.tasks import INCOMING_PATH, send_series
from tests.console_fixtures import Items
from tests.serverproc import free_port
from tests.victimid.support import variant


@dataclass
class Instance:
    country: str
    services: Services
    base: str
    server: Any = None
    thread: threading.Thread | None = None


def _start(inst: Instance) -> None:
    import uvicorn

    from openhotline.app import create_app

    port = int(inst.base.rsplit(":", 1)[1])
    config = uvicorn.Config(create_app(services=inst.services), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="off")  # fmt: skip
    inst.server = uvicorn.Server(config)
    inst.thread = threading.Thread(target=inst.server.run, daemon=True)
    inst.thread.start()
    deadline = time.monotonic() + 30
    while not inst.server.started:
        assert inst.thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    dirs = {c: tmp_path / c for c in ("AA", "BB")}
    urls = {c: f"sqlite:///{d / 'openhotline.db'}" for c, d in dirs.items()}
    bases = {c: f"http://127.0.0.1:{free_port()}" for c in dirs}
    for c, d in dirs.items():
        d.mkdir()
        upgrade(urls[c])
    plain = {c: build(Settings(data_dir=dirs[c], database_url=urls[c])) for c in dirs}
    tokens = {}
    for me, peer in (("AA", "BB"), ("BB", "AA")):
        with transaction(plain[me].sessionmaker) as s:  # `me` issues a key to `peer`
            org = partners.create_org(s, f"Hotline {peer}", "hotline", peer, actor="t")
            tokens[peer] = partners.create_key(s, org, ["referrals.receive"], actor="t")[1]
    keys = {c: plain[c].signer.public_b64 for c in dirs}
    for svc in plain.values():
        svc.close()
    insts = {}
    for me, peer in (("AA", "BB"), ("BB", "AA")):
        settings = Settings(
            data_dir=dirs[me], database_url=urls[me], own_countries=[me], hotline_name=me,
            federation_peers={peer: FederationPeer(base_url=bases[peer], api_key=tokens[me],
                                                   public_key=keys[peer], allow_media=True)},
            export_include_media=True, federation_allow_media=True,
        )  # fmt: skip
        insts[me] = Instance(me, build(settings), bases[me])
    _start(insts["BB"])
    try:
        yield insts["AA"], insts["BB"]
    finally:
        for inst in insts.values():
            if inst.server is not None:
                inst.server.should_exit = True
                assert inst.thread is not None
                inst.thread.join(timeout=15)
            inst.services.close()


def _hashes(data: bytes) -> set[tuple[str, str]]:
    rows = csv.DictReader(io.StringIO(read_package(data)["hashes.csv"].decode()))
    return {(r["hash_type"], r["hash_value"]) for r in rows}


def test_series_package_round_trip_between_two_instances(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    items = Items(a.services.sessionmaker, a.services.media_store)
    ids = [items.item(0, data=variant(41, k)) for k in range(4)]
    with transaction(a.services.sessionmaker) as s:
        series = service.create_series(s, actor="user:vid", title="rt")
        for item_id in ids:
            service.add_item(s, series, item_id, actor="user:vid")
        service.update_fields(
            s, series,
            service.SeriesFields(victim_status=VictimStatus.NOT_IDENTIFIED,
                                 police_reference="POL-7", age_band="pubescent", sex="unknown"),
            actor="user:vid", age_bands=["pubescent"],
        )  # fmt: skip
        service.set_notes(s, series, a.services.victimid_cipher, actor="user:vid", clues="c1")
        series_id, reference = series.id, series.reference
        original = package.export_series(s, series, a.services.signer, actor="t", hotline="AA",
                                         store=a.services.media_store)  # fmt: skip

    answer = send_series(a.services, series_id, "BB", actor="user:vid")
    assert answer["reference"] == reference and answer["created"] is True
    assert answer["hashes_added"] == 16  # md5, sha1, sha256, pdq of four items
    # Sending again, now with media and clues under a key sent beside the package, refreshes
    # the same series: nothing doubles, the media become BB's items, the clues BB's (encrypted).
    again_answer = send_series(a.services, series_id, "BB", actor="user:vid", media=True,
                               clues=True)  # fmt: skip
    assert (again_answer["created"], again_answer["hashes_added"]) == (False, 0)
    assert again_answer["media_items"] == 4 and again_answer["clues"] is True

    with transaction(b.services.sessionmaker) as s:
        copy = service.series_by_reference(s, reference)
        assert copy is not None and copy.origin == "hotline:AA"
        assert (copy.victim_status, copy.police_reference, copy.age_band, copy.sex) == (
            VictimStatus.NOT_IDENTIFIED, "POL-7", "pubescent", "unknown")  # fmt: skip
        members = service.series_items(s, copy.id)
        assert (
            sorted(i.sha256 for _si, i in members)
            == sorted(i.sha256 for i in s.scalars(select(Item)))
            and len(members) == 4
        )
        notes = service.read_notes(s, copy, b.services.victimid_cipher, actor="user:vid-bb")
        assert notes["clues"] == "c1"
        live = s.scalars(select(BankEntry).where(BankEntry.bank_id == copy.known_bank_id)).all()
        assert {e.source for e in live} == {f"series:{reference}"} and len(live) == 16
        again = package.export_series(s, copy, b.services.signer, actor="t", hotline="BB")
    manifest = verify_package(again.data, b.services.signer.public_b64)
    assert manifest["hotline"] == "BB" and manifest["series"] == reference
    assert _hashes(again.data) == _hashes(original.data)
    fields = ("reference", "kind", "victim_status", "police_reference", "age_band", "sex")
    first = json.loads(read_package(original.data)["series.json"])
    second = json.loads(read_package(again.data)["series.json"])
    assert {f: first[f] for f in fields} == {f: second[f] for f in fields}
    assert set(json.loads(read_package(original.data)["features.json"])) == {
        r["sha256"] for r in json.loads(read_package(original.data)["items.json"])
    }

    # A package changed on the way is refused by BB.
    files = read_package(original.data)
    files["series.json"] = files["series.json"].replace(b"POL-7", b"POL-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    peer = a.services.settings.federation_peers["BB"]
    r = httpx.post(
        b.base + INCOMING_PATH, content=out.getvalue(), trust_env=False, timeout=30,
        headers={"Authorization": f"Bearer {peer.api_key}", "X-Openhotline-Sender": "AA"},
    )  # fmt: skip
    assert r.status_code == 422 and "does not match the manifest" in r.text
