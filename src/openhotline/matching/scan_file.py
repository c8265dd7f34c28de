"""Scanning one file, the same on every executor: decode, hash, look up, describe.

`_scan_one` decodes and hashes a file (a process pool's or a Ray worker's work);
`queries_of` turns the result into the hashes to look up; `record_of` into the line
`openhotline scan` prints and keeps in its checkpoint. `scan_frozen` is the whole of it
against a snapshot of the banks (a Ray task's work). This module stays light to import:
every pool and Ray worker process imports it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openhotline.matching.models import HashType
from openhotline.matching.rules import describe

if TYPE_CHECKING:
    from openhotline.matching.matcher import FeatureSource, QueryHash
    from openhotline.matching.service import Match
    from openhotline.matching.snapshot import BankSnapshot


@dataclass
class _Scanned:
    path: str
    status: str  # ok, unreadable, skipped
    reason: str = ""
    md5: str = ""
    sha256: str = ""
    pdq: str = ""
    quality: int = 0
    candidates: list[tuple[str, str, int]] = field(default_factory=list)
    # Local features per query label (Features.to_bytes()), when a bank scanned holds any.
    features: list[tuple[str, bytes]] = field(default_factory=list)


MAX_SCAN_BYTES = 64 * 1024 * 1024


def _scan_one(
    path: str,
    geometric: bool = True,
    regions: bool = True,
    root: str | None = None,
    features: bool = False,
) -> _Scanned:
    from openhotline.media.decode import MediaError, UnsupportedFormatError
    from openhotline.media.service import query_image

    try:
        # A link out of the folder is not followed unless asked (--follow-links).
        if root is not None and not _inside(os.path.realpath(path), root):
            return _Scanned(path, "skipped", "symbolic link out of the folder (--follow-links)")
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a named pipe would block the worker forever
            return _Scanned(path, "skipped", "not a regular file")
        if st.st_size > MAX_SCAN_BYTES:
            return _Scanned(path, "unreadable", f"larger than {MAX_SCAN_BYTES} bytes")
        with open(path, "rb") as fh:
            data = fh.read()
        q = query_image(data, geometric=geometric, regions=regions)
    except UnsupportedFormatError as exc:
        return _Scanned(path, "skipped", exc.message)
    except MediaError as exc:
        status = "skipped" if exc.message == "empty file" else "unreadable"
        return _Scanned(path, status, exc.message)
    except OSError as exc:
        return _Scanned(path, "unreadable", exc.strerror or str(exc))
    except Exception as exc:  # one odd file must never stop a scan of millions
        return _Scanned(path, "unreadable", f"unexpected error: {type(exc).__name__}")
    h = q.hashes
    cands = [(c.label, c.pdq, c.quality) for c in q.candidates]
    res = _Scanned(path, "ok", "", h.md5, h.sha256, h.pdq, h.pdq_quality, cands)
    if features:
        res.features = _features_of(data)
    return res


def _features_of(data: bytes) -> list[tuple[str, bytes]]:
    """The file's local features per label; none when they cannot be computed."""
    from openhotline.matching.features import query_features
    from openhotline.media.decode import MediaError

    try:
        return [(label, f.to_bytes()) for label, f in query_features(data)]
    except MediaError:
        return []  # PDQ could read it; features add nothing here


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class ScanOptions:
    """How each file is scanned: the same for every executor."""

    banks: tuple[str, ...]
    geometric: bool = True
    regions: bool = True
    root: str | None = None  # links out of this folder are skipped (None: followed)
    features: bool = False  # compute local features (a bank scanned holds some)


def queries_of(res: _Scanned) -> list[QueryHash]:
    """The hashes of a scanned file to look up: MD5, SHA-256 and every PDQ candidate."""
    from openhotline.matching.matcher import QueryHash

    return [
        QueryHash("md5", HashType.MD5, res.md5),
        QueryHash("sha256", HashType.SHA256, res.sha256),
    ] + [QueryHash(lbl, HashType.PDQ, h, q) for lbl, h, q in res.candidates]


def record_of(res: _Scanned, per_bank: dict[str, list[Match]]) -> dict[str, Any]:
    """A file's result as the JSON line printed (and kept in a checkpoint)."""
    obj: dict[str, Any] = {"path": res.path, "status": res.status}
    if res.reason:
        obj["reason"] = res.reason
    if res.status == "ok":
        obj.update(md5=res.md5, sha256=res.sha256, pdq=res.pdq, pdq_quality=res.quality)
        obj["matches"] = [
            {"bank": m.bank, "entry_id": m.entry_id, "hash_type": m.hash_type,
             "distance": m.distance, "matched_by": m.query,
             "matched_how": describe(m.query, m.inliers), "inliers": m.inliers,
             "classification": m.classification}
            for ms in per_bank.values() for m in ms
        ]  # fmt: skip
    return obj


def feature_source(res: _Scanned) -> FeatureSource | None:
    """The scanned file's local features, for the matcher (None when not computed)."""
    if not res.features:
        return None
    from openhotline.matching.features import Features

    decoded = [(label, Features.from_bytes(raw)) for label, raw in res.features]
    return lambda: decoded


def scan_frozen(path: str, opts: ScanOptions, snapshot: BankSnapshot) -> dict[str, Any]:
    """Scan one file and match it against a bank snapshot: a Ray worker's per-file work."""
    from openhotline.matching.matcher import match_frozen

    res = _scan_one(path, opts.geometric, opts.regions, opts.root)
    per_bank: dict[str, list[Match]] = {}
    if res.status == "ok":
        per_bank = match_frozen(snapshot, queries_of(res), banks_only=set(opts.banks))
    return record_of(res, per_bank)
