"""Byte-exact rendering of list snapshots and deltas as CSV and JSON (deterministic).

The same version always renders to the same bytes, so a signature made once stays valid
and a cached file can be served again. CSV files start with one `#` line naming the list,
its version and time (so an old file cannot pass for a new one); readers skip `#` lines.
Rows are consumed from iterators, so a large list is never held as Python objects.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime

FORMATS = ("csv", "json", "hma")
DELTA_FORMATS = ("csv", "json")  # an HMA local file has no removals: snapshots only
URL_FIELDS = ("url", "url_sha256")
HASH_FIELDS = ("sha256", "md5", "sha1", "pdq", "classification", "provenance")

# One entry: (key, url, md5, sha1, pdq, classification, provenance) — the published columns.
Row = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]


def _js(value: str | None) -> str:
    """JSON string literal; hex digests (the common case) need no escaping."""
    if value is None:
        return "null"
    if value.isascii() and value.isalnum():
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _json_entry(kind: str, row: Row) -> str:
    key, url, md5, sha1, pdq, cls, who = row
    if kind == "urls":
        return f'{{"url":{_js(url)},"url_sha256":{_js(key)}}}'
    return (
        f'{{"sha256":{_js(key)},"md5":{_js(md5)},"sha1":{_js(sha1)},"pdq":{_js(pdq)},'
        f'"classification":{_js(cls)},"provenance":{_js(who)}}}'
    )


def _cells(kind: str, row: Row) -> tuple[str, ...]:
    key, url, md5, sha1, pdq, cls, who = row
    if kind == "urls":
        return (url or "", key)
    return (key, md5 or "", sha1 or "", pdq or "", cls or "", who or "")


def _fields(kind: str) -> tuple[str, ...]:
    return URL_FIELDS if kind == "urls" else HASH_FIELDS


def _json_array(kind: str, rows: Iterable[Row]) -> str:
    return "[" + ",".join(_json_entry(kind, r) for r in rows) + "]"


def render_snapshot(
    kind: str, version: int, created_at: datetime, count: int, rows: Iterable[Row], fmt: str
) -> bytes:
    """Render every entry of one version (rows sorted by key, `count` of them)."""
    stamp = created_at.isoformat(timespec="seconds")
    if fmt == "hma":
        return _hma(kind, rows)
    if fmt == "json":
        head = f'{{"list":"{kind}","version":{version},"generated_at":"{stamp}","count":{count},'
        return (head + '"entries":' + _json_array(kind, rows) + "}").encode("utf-8")
    buf = io.StringIO()
    buf.write(f"# openhotline list={kind} version={version} generated_at={stamp} count={count}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_fields(kind))
    writer.writerows(_cells(kind, r) for r in rows)
    return buf.getvalue().encode("utf-8")


def _hma(kind: str, rows: Iterable[Row]) -> bytes:
    """HMA's local-file format (python-threatexchange): `<signal type> <hash>` per line.

    Every hash of a row becomes a line, with the type names `openhotline bank export --format
    hma` writes and `bank import` reads; URL lists have no HMA form.
    """
    if kind != "hashes":
        raise ValueError("only hash lists have an HMA form")
    buf = io.StringIO()
    for key, _url, md5, sha1, pdq, _cls, _who in rows:
        for name, value in (("pdq", pdq), ("md5", md5), ("sha1", sha1), ("sha256", key)):
            if value:
                buf.write(f"{name} {value}\n")
    return buf.getvalue().encode("ascii")


def render_delta(
    kind: str,
    since: int,
    version: int,
    created_at: datetime,
    added: Iterable[Row],
    removed: Iterable[Row],
    fmt: str,
) -> bytes:
    """Render what changed between version `since` and `version`."""
    stamp = created_at.isoformat(timespec="seconds")
    if fmt == "json":
        head = (
            f'{{"list":"{kind}","from_version":{since},"version":{version},'
            f'"generated_at":"{stamp}",'
        )
        body = f'"added":{_json_array(kind, added)},"removed":{_json_array(kind, removed)}}}'
        return (head + body).encode("utf-8")
    buf = io.StringIO()
    buf.write(
        f"# openhotline list={kind} delta from_version={since} version={version} "
        f"generated_at={stamp}\n"
    )
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("op", *_fields(kind)))
    writer.writerows(("add", *_cells(kind, r)) for r in added)
    writer.writerows(("remove", *_cells(kind, r)) for r in removed)
    return buf.getvalue().encode("utf-8")
