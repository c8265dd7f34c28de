"""docs/case-lifecycle.md is what the code renders; `openhotline case diagram` prints it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from openhotline.cases.lifecycle import TABLE, render_document, render_mermaid
from openhotline.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "case-lifecycle.md"


def test_docs_match_the_transition_table() -> None:
    assert DOC.read_text() == render_document(), (
        "docs/case-lifecycle.md is stale: run `openhotline case diagram > docs/case-lifecycle.md`"
    )


def test_architecture_page_shows_the_current_diagram() -> None:
    page = (DOC.parent / "architecture.md").read_text()
    assert render_mermaid() in page, (
        "docs/architecture.md shows an old lifecycle: paste `openhotline case diagram --mermaid`"
    )


def test_diagram_has_one_edge_per_legal_move() -> None:
    lines = render_mermaid().splitlines()
    assert lines[0] == "stateDiagram-v2"
    edges = {tuple(line.split(":")[0].split()[::2]) for line in lines[2:]}
    assert edges == {(a.value, b.value) for a, b in TABLE}


def test_cli_prints_the_document_and_the_diagram() -> None:
    runner = CliRunner()
    whole = runner.invoke(app, ["case", "diagram"])
    assert whole.exit_code == 0 and whole.stdout == render_document()
    only = runner.invoke(app, ["case", "diagram", "--mermaid"])
    assert only.exit_code == 0 and only.stdout == render_mermaid()
