"""A frozen copy of some banks, for matching where there is no database (bulk scans on Ray).

`openhotline scan --ray` puts one `BankSnapshot` in Ray's object store: each node fetches
it once and its workers share the numpy arrays without copying them. It holds what
`matcher.match` reads from the database and the match engine, taken once when the scan
starts: every enabled named bank's PDQ index (as arrays), its live exact hashes (sorted
raw digests) and, per live entry, its bank, classification and source. `matcher.
match_frozen` applies the same rules to it as `matcher.match` to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline.matching.engine import MatchEngine, PDQHit
from openhotline.matching.index import PDQIndex, SegmentParts, hex_to_words, words_to_hex
from openhotline.matching.models import BankEntry, HashBank, HashType
from openhotline.matching.service import Match

CHUNK = 100_000


@dataclass
class BankSnapshot:
    """The named banks as they were when the scan started: no session needed to match."""

    banks: dict[int, tuple[str, int]]  # bank id -> (name, PDQ radius)
    pdq: dict[int, list[SegmentParts]]  # bank id -> its PDQ index as arrays
    exact: dict[str, tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int64]]]  # type -> sorted
    entry_ids: npt.NDArray[np.int64]  # every live entry, ascending
    entry_bank: npt.NDArray[np.int64]
    entry_class: npt.NDArray[np.int32]  # index into texts
    entry_source: npt.NDArray[np.int32]
    texts: list[str]
    _indexes: dict[int, PDQIndex] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_indexes"] = {}  # rebuilt from the arrays where it is used (they hold locks)
        return state

    @property
    def radius_of(self) -> dict[int, int]:
        """PDQ radius of each bank, by id."""
        return {b: r for b, (_, r) in self.banks.items()}

    def nbytes(self) -> int:
        """About how much memory the arrays take (sizes Ray's object store for `auto`)."""
        total = self.entry_ids.nbytes * 3 + sum(len(t) for t in self.texts)
        total += sum(v.nbytes + i.nbytes for v, i in self.exact.values())
        for parts in self.pdq.values():
            total += sum(a.nbytes for p in parts for a in (p[0], p[1], p[3], p[4], p[5]))
        return int(total)

    def _index(self, bank_id: int) -> PDQIndex:
        if bank_id not in self._indexes:
            self._indexes[bank_id] = PDQIndex.from_parts(self.pdq.get(bank_id, []))
        return self._indexes[bank_id]

    def _entry(self, entry_id: int) -> tuple[str, str, str] | None:
        """(bank name, classification, source) of a live entry, or None."""
        pos = int(np.searchsorted(self.entry_ids, entry_id))
        if pos >= len(self.entry_ids) or self.entry_ids[pos] != entry_id:
            return None
        bank = self.banks[int(self.entry_bank[pos])][0]
        return bank, self.texts[self.entry_class[pos]], self.texts[self.entry_source[pos]]

    def exact_matches(self, hash_type: HashType, value: str, label: str = "") -> list[Match]:
        """Live entries equal to a cryptographic hash (as `service.exact_matches`)."""
        table = self.exact.get(hash_type.value)
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return []
        if table is None or table[0].dtype.itemsize != len(raw):
            return []
        values, ids = table
        key = np.asarray([raw], dtype=values.dtype)
        lo = int(np.searchsorted(values, key, "left")[0])
        hi = int(np.searchsorted(values, key, "right")[0])
        out = []
        for eid in sorted(int(x) for x in ids[lo:hi]):
            entry = self._entry(eid)
            if entry is None:
                continue
            out.append(
                Match(bank=entry[0], entry_id=eid, hash_type=hash_type.value,
                      hash_value=value.lower(), distance=0, classification=entry[1],
                      source=entry[2], query=label or hash_type.value)
            )  # fmt: skip
        return out

    def match_pdq(self, hashes: list[str], banks_only: set[str] | None = None) -> list[PDQHit]:
        """Hits of each query hash in each bank within its radius (as the engine's)."""
        if not hashes:
            return []
        queries = hex_to_words(hashes)
        hits: list[PDQHit] = []
        for bank_id, (name, radius) in sorted(self.banks.items()):
            if banks_only is not None and name not in banks_only:
                continue
            index = self._index(bank_id)
            if len(queries) == 1:
                results = [index.search(queries[0], radius)]
            else:
                results = index.search_batch(queries, radius)
            for qi, res in enumerate(results):
                hits.extend(PDQHit(qi, bank_id, name, eid, dist) for eid, dist in res)
        return hits

    def pdq_match(self, hit: PDQHit, label: str) -> Match | None:
        """The Match of a PDQ hit, or None when the entry is not in the snapshot."""
        entry = self._entry(hit.entry_id)
        if entry is None:
            return None
        _, words = self._index(hit.bank_id).lookup(np.asarray([hit.entry_id], np.int64))
        return Match(
            bank=entry[0], entry_id=hit.entry_id, hash_type="pdq",
            hash_value=words_to_hex(words)[0], distance=hit.distance,
            classification=entry[1], source=entry[2], query=label,
        )  # fmt: skip


def take_snapshot(session: Session, engine: MatchEngine, bank_names: set[str]) -> BankSnapshot:
    """Freeze the enabled banks among bank_names (their index, exact hashes and entries)."""
    banks = {
        int(b): (str(n), int(r))
        for b, n, r in session.execute(
            select(HashBank.id, HashBank.name, HashBank.pdq_radius).where(
                HashBank.enabled.is_(True), HashBank.name.in_(sorted(bank_names))
            )
        ).all()
    }
    pdq = engine.frozen(session, set(banks))
    texts: dict[str, int] = {}
    ids: list[int] = []
    bank_of: list[int] = []
    cls: list[int] = []
    src: list[int] = []
    exact: dict[str, tuple[list[bytes], list[int]]] = {}
    last = 0
    while banks:
        rows = session.execute(
            select(
                BankEntry.id, BankEntry.bank_id, BankEntry.hash_type, BankEntry.hash_value,
                BankEntry.classification, BankEntry.source,
            )
            .where(
                BankEntry.bank_id.in_(sorted(banks)),
                BankEntry.removed_at.is_(None),
                BankEntry.id > last,
            )
            .order_by(BankEntry.id)
            .limit(CHUNK)
        ).all()  # fmt: skip
        if not rows:
            break
        for eid, bank_id, hash_type, value, classification, source in rows:
            if hash_type != HashType.PDQ.value:
                try:
                    digest = bytes.fromhex(value)
                except ValueError:  # never stored (imports check hex); never matched either
                    continue
                values, owners = exact.setdefault(hash_type, ([], []))
                values.append(digest)
                owners.append(eid)
            ids.append(eid)
            bank_of.append(bank_id)
            cls.append(texts.setdefault(classification or "", len(texts)))
            src.append(texts.setdefault(source or "", len(texts)))
        last = int(rows[-1][0])
    return BankSnapshot(
        banks=banks,
        pdq=pdq,
        exact={t: _sorted_digests(v, o) for t, (v, o) in exact.items()},
        entry_ids=np.asarray(ids, dtype=np.int64),
        entry_bank=np.asarray(bank_of, dtype=np.int64),
        entry_class=np.asarray(cls, dtype=np.int32),
        entry_source=np.asarray(src, dtype=np.int32),
        texts=list(texts),
    )


def _sorted_digests(
    values: list[bytes], owners: list[int]
) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int64]]:
    width = max(len(v) for v in values)
    arr = np.asarray(values, dtype=f"S{width}")
    order = np.argsort(arr, kind="stable")
    return arr[order], np.asarray(owners, dtype=np.int64)[order]
