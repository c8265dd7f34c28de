"""Byte-exact rendering of list snapshots and deltas as CSV and JSON (deterministic).

The same version always renders to the same bytes, so a signature made once stays valid
and a cached file can be served again. CSV files start with one `#` line naming the list,
its version and time (so an old file cannot pass for a new one); readers skip `#` lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

FORMATS = ("csv", "json")
URL_FIELDS = ("url", "url_sha256")
HASH_FIELDS = ("sha256", "md5", "sha1", "pdq")

# One entry: (key, url, md5, sha1, pdq) — the columns of ListEntry that are published.
Row = tuple[str, str | None, str | None, str | None, str | None]


def _record(kind: str, row: Row) -> dict[str, Any]:
    key, url, md5, sha1, pdq = row
    if kind == "urls":
        return {"url": url, "url_sha256": key}
    return {"sha256": key, "md5": md5, "sha1": sha1, "pdq": pdq}


def _cells(kind: str, row: Row) -> list[str]:
    key, url, md5, sha1, pdq = row
    if kind == "urls":
        return [url or "", key]
    return [key, md5 or "", sha1 or "", pdq or ""]


def _fields(kind: str) -> tuple[str, ...]:
    return URL_FIELDS if kind == "urls" else HASH_FIELDS


def render_snapshot(
    kind: str, version: int, created_at: datetime, rows: Sequence[Row], fmt: str
) -> bytes:
    """Render every entry of one version (rows sorted by key)."""
    stamp = created_at.isoformat(timespec="seconds")
    if fmt == "json":
        doc = {
            "list": kind,
            "version": version,
            "generated_at": stamp,
            "count": len(rows),
            "entries": [_record(kind, r) for r in rows],
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    buf = io.StringIO()
    buf.write(
        f"# openhotline list={kind} version={version} generated_at={stamp} count={len(rows)}\n"
    )
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_fields(kind))
    writer.writerows(_cells(kind, r) for r in rows)
    return buf.getvalue().encode("utf-8")


def render_delta(
    kind: str,
    since: int,
    version: int,
    created_at: datetime,
    added: Sequence[Row],
    removed: Sequence[Row],
    fmt: str,
) -> bytes:
    """Render what changed between version `since` and `version`."""
    stamp = created_at.isoformat(timespec="seconds")
    if fmt == "json":
        doc = {
            "list": kind,
            "from_version": since,
            "version": version,
            "generated_at": stamp,
            "added": [_record(kind, r) for r in added],
            "removed": [_record(kind, r) for r in removed],
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    buf = io.StringIO()
    buf.write(
        f"# openhotline list={kind} delta from_version={since} version={version} "
        f"generated_at={stamp} added={len(added)} removed={len(removed)}\n"
    )
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("op", *_fields(kind)))
    writer.writerows(["add", *_cells(kind, r)] for r in added)
    writer.writerows(["remove", *_cells(kind, r)] for r in removed)
    return buf.getvalue().encode("utf-8")
