"""Hash-list parsers: HMA local files, CSV with a header, plain lists (property-based too)."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from openhotline.matching.formats import (
    BadRow,
    FileFormat,
    Row,
    detect_format,
    format_hma,
    parse_lines,
)
from openhotline.matching.models import HEX_LENGTH, LIST_HASH_TYPES, HashType

# Degenerate values (all zero or all one bits) are refused on import, so not generated here.
hex_of = {
    t: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n).filter(
        lambda v: set(v.lower()) not in ({"0"}, {"f"})
    )
    for t, n in HEX_LENGTH.items()
}
entries = st.lists(
    st.sampled_from(list(LIST_HASH_TYPES)).flatmap(lambda t: st.tuples(st.just(t), hex_of[t])),
    max_size=30,
)


@given(entries)
def test_hma_round_trip(items: list[tuple[HashType, str]]) -> None:
    text = "".join(format_hma(t.value, v) for t, v in items)
    rows = list(parse_lines(text.splitlines(keepends=True)))
    assert all(isinstance(r, Row) for r in rows)
    assert [(r.hash_type, r.hash_value) for r in rows] == [(t, v.lower()) for t, v in items]


@given(entries, st.text(max_size=30))
def test_csv_round_trip_keeps_metadata(items: list[tuple[HashType, str]], label: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["hash_type", "hash", "classification", "source"])
    for t, v in items:
        w.writerow([t.value, v, label, "partner X"])
    # Read like a file opened with newline="" (str.splitlines would also split on \x1e etc.)
    rows = list(parse_lines(io.StringIO(buf.getvalue(), newline=""), FileFormat.CSV))
    assert [(r.hash_type, r.hash_value) for r in rows if isinstance(r, Row)] == [
        (t, v.lower()) for t, v in items
    ]
    for r in rows:
        assert isinstance(r, Row)
        assert r.classification == label.strip()[:100]
        assert r.source == "partner X"


@settings(max_examples=300)
@given(st.lists(st.text(max_size=80), max_size=20))
def test_parsers_never_crash_and_account_for_every_line(lines: list[str]) -> None:
    for fmt in (FileFormat.HMA, FileFormat.PLAIN, FileFormat.CSV, None):
        out = list(parse_lines([ln.replace("\n", " ") + "\n" for ln in lines], fmt))
        for r in out:
            assert isinstance(r, Row | BadRow)
            if isinstance(r, Row):
                assert len(r.hash_value) == HEX_LENGTH[r.hash_type]
                assert r.hash_value == r.hash_value.lower()
            else:
                assert r.reason


def test_bad_rows_have_line_numbers_and_reasons() -> None:
    text = [
        "hash_type,hash,classification\n",
        "pdq," + "a" * 64 + ",category A\n",
        "md5,xyz,category B\n",
        "sha1," + "b" * 39 + ",\n",
        "video_tmk," + "c" * 64 + ",\n",
        "md5\n",
        "\n",
        "MD5," + "D" * 32 + ",\n",
    ]
    out = list(parse_lines(text))
    bad = [r for r in out if isinstance(r, BadRow)]
    good = [r for r in out if isinstance(r, Row)]
    assert [r.line for r in bad] == [3, 4, 5, 6]
    assert "not hexadecimal" in bad[0].reason
    assert "40 hex digits" in bad[1].reason
    assert "unsupported hash type" in bad[2].reason
    assert "columns" in bad[3].reason
    assert [(r.hash_type, r.line) for r in good] == [(HashType.PDQ, 2), (HashType.MD5, 8)]
    assert good[1].hash_value == "d" * 32


def test_csv_without_needed_columns_is_one_bad_row() -> None:
    out = list(parse_lines(["foo,hash\n", "x,y\n"], FileFormat.CSV))
    assert out == [BadRow(1, "CSV header needs a hash type column and a hash column")]


def test_plain_lists_infer_or_take_the_type() -> None:
    out = list(parse_lines(["# md5 list\n", "a" * 32 + "\n", "b" * 40 + "\n", "c" * 10 + "\n"]))
    assert [getattr(r, "hash_type", None) for r in out] == [HashType.MD5, HashType.SHA1, None]
    out = list(parse_lines(["e" * 64 + "\n"], FileFormat.PLAIN, HashType.PDQ))
    assert isinstance(out[0], Row) and out[0].hash_type is HashType.PDQ


def test_detect_format() -> None:
    assert detect_format("hash_type,hash") is FileFormat.CSV
    assert detect_format("\ufeffpdq " + "a" * 64) is FileFormat.HMA
    assert detect_format("a" * 32) is FileFormat.PLAIN
