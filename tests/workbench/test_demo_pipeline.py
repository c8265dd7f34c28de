"""`openhotline demo pipeline` walks the whole path locally and exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openhotline.capture.render import unavailable_reason
from openhotline.demo_pipeline import run_demo


@pytest.mark.slow
def test_demo_pipeline_sends_notices_before_the_other_items_are_graded(tmp_path: Path) -> None:
    out: list[str] = []
    assert run_demo(out.append, workdir=tmp_path) == 0
    summary = json.loads(out[0])
    cases = {c["name"]: c for c in summary["cases"]}
    assert len(cases) == 3 and summary["notices_received"] >= 1
    for case in cases.values():
        assert case["trace"]["abuse_contact"] == "abuse@gallery.demo.test"
        assert case["removal"]["status"] == "removed"
        assert case["block_list"]["delisted_in_version"] > case["block_list"]["listed_in_version"]
    bank = cases["bank match"]
    assert [i["status"] for i in bank["capture"]["items"]] == ["auto_assessed"]
    mixed = cases["one of three graded illegal"]
    assert len(mixed["capture"]["items"]) == 3  # the icon and the pixel were filtered
    assert mixed["capture"]["filtered"][0].startswith("2 icon(s)")
    assert mixed["notice"]["sent_before_remaining_items_were_graded"] is True
    js = cases["shown only after JavaScript"]
    if unavailable_reason() is None:
        found = [i["found_at"] for i in js["capture"]["items"]]
        assert any(f.endswith("/img/late.png") for f in found)
        assert any(f.startswith("screenshot: ") for f in found)
    else:
        assert js["assessment"]["url_level_decisions"] == ["baseline", "baseline"]


@pytest.mark.slow
def test_demo_pipeline_without_chromium_decides_the_js_page_at_url_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENHOTLINE_RENDER_CHROMIUM_PATH", str(tmp_path / "no-chromium"))
    out: list[str] = []
    assert run_demo(out.append, workdir=tmp_path) == 0
    js = next(c for c in json.loads(out[0])["cases"] if c["name"].endswith("JavaScript"))
    assert "rendered mode skipped" in js["capture"]["mode"]
    assert js["assessment"]["url_level_decisions"] == ["baseline", "baseline"]
    assert js["notice"]["first_sent_at"] and js["removal"]["status"] == "removed"
