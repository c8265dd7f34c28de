"""A bank snapshot (what `scan --ray` ships to Ray workers) matches as the database does."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.engine import MatchEngine
from openhotline.matching.matcher import QueryHash, match, match_frozen
from openhotline.matching.models import HashType
from openhotline.matching.snapshot import take_snapshot

pytestmark = pytest.mark.db


def _flip(h: str, bits: list[int]) -> str:
    v = int(h, 16)
    for b in bits:
        v ^= 1 << b
    return f"{v:064x}"


def test_a_snapshot_matches_what_the_database_matches(factory: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(3)
    pdq = [rng.bytes(32).hex() for _ in range(3000)]  # enough for a multi-index segment
    md5 = [rng.bytes(16).hex() for _ in range(4)]
    sha = rng.bytes(32).hex()
    with transaction(factory) as s:
        own = service.create_bank(s, "own", pdq_radius=31)
        partner = service.create_bank(s, "partner", pdq_radius=10)
        off = service.create_bank(s, "off", enabled=False)
        for h in pdq[:2990]:
            service.add_entry(s, own, HashType.PDQ, h, classification="category A")
        service.add_entry(s, partner, HashType.PDQ, pdq[5], source="p")
        service.add_entry(s, partner, HashType.MD5, md5[0].upper(), classification="B")
        service.add_entry(s, own, HashType.MD5, md5[0])  # one hash in two banks
        service.add_entry(s, own, HashType.SHA256, sha, source="own")
        service.add_entry(s, off, HashType.MD5, md5[1])  # disabled bank: never matched
        service.add_entry(s, own, HashType.MD5, md5[2])
        service.remove_entry(s, own, HashType.MD5, md5[2])  # removed: never matched
        service.remove_entry(s, own, HashType.PDQ, pdq[6])
    engine = MatchEngine(factory, None)
    with factory() as s:
        engine.sync(s)  # built; what follows goes to its delta and tombstones
    with transaction(factory) as s:
        own = service.get_bank(s, "own")
        service.add_entry(s, own, HashType.PDQ, pdq[2991])
        service.remove_entry(s, own, HashType.PDQ, pdq[10])
    with factory() as s:
        snap = take_snapshot(s, engine, {"own", "partner", "off", "absent"})
    snap = pickle.loads(pickle.dumps(snap, protocol=5))  # noqa: S301 (as Ray ships it)
    assert sorted(n for n, _ in snap.banks.values()) == ["own", "partner"]
    queries = [
        [QueryHash("md5", HashType.MD5, md5[0]), QueryHash("sha256", HashType.SHA256, sha)],
        [QueryHash("md5", HashType.MD5, md5[1]), QueryHash("md5", HashType.MD5, md5[2])],
        [QueryHash("md5", HashType.MD5, md5[3]), QueryHash("md5", HashType.MD5, "zz")],
        [QueryHash("pdq", HashType.PDQ, _flip(pdq[5], [1, 50, 99]), 90)],  # both banks
        [QueryHash("pdq", HashType.PDQ, _flip(pdq[5], list(range(20))), 90)],  # own only
        [QueryHash("pdq", HashType.PDQ, pdq[6], 90)],  # removed
        [QueryHash("pdq", HashType.PDQ, pdq[2995], 90)],  # never added
        [QueryHash("pdq", HashType.PDQ, pdq[2991], 90)],  # in the engine's delta
        [QueryHash("pdq", HashType.PDQ, _flip(pdq[10], [0]), 90)],  # removed after the build
        [  # weak image: a crop guess only matches an identical hash, a cut within 8 bits
            QueryHash("pdq:uncrop5", HashType.PDQ, _flip(pdq[7], [3]), 30),
            QueryHash("pdq:region1", HashType.PDQ, _flip(pdq[11], list(range(8))), 30),
            QueryHash("pdq:block1", HashType.PDQ, _flip(pdq[12], list(range(9))), 30),
            QueryHash("pdq:trim", HashType.PDQ, pdq[8], 30),
            QueryHash("pdq:rot90cw", HashType.PDQ, _flip(pdq[9], [3, 4]), 30),
        ],
    ]
    for q in queries:
        for banks in (None, {"partner"}):
            with factory() as s:
                want = match(s, engine, q, candidate_margin=4, banks_only=banks)
            assert match_frozen(snap, q, candidate_margin=4, banks_only=banks) == want, q
    with factory() as s:
        both = match(s, engine, queries[0])
        assert {b: len(ms) for b, ms in both.items()} == {"own": 2, "partner": 1}
        assert len(match(s, engine, queries[3])["own"]) == 1
        assert list(match(s, engine, queries[4])) == ["own"]
        assert list(match(s, engine, queries[7])) == ["own"]
        assert match(s, engine, queries[8]) == {}
        weak = match(s, engine, queries[-1])["own"]
        assert sorted(m.query for m in weak) == ["pdq:region1", "pdq:rot90cw", "pdq:trim"]
