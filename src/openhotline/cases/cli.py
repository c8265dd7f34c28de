"""`openhotline case ...`: the case lifecycle's command line."""

from __future__ import annotations

import typer

from openhotline.cases.lifecycle import render_document, render_mermaid

case_app = typer.Typer(help="The case lifecycle.", no_args_is_help=True)


@case_app.command("diagram")
def diagram(
    mermaid_only: bool = typer.Option(
        False, "--mermaid", help="Print only the Mermaid diagram, not the whole document."
    ),
) -> None:
    """Print docs/case-lifecycle.md (the transition table as a Mermaid diagram) from the code."""
    typer.echo(render_mermaid() if mermaid_only else render_document(), nl=False)
