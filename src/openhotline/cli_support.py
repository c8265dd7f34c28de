"""The CLI's one mapping of the error family: a DomainError becomes one line and exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from openhotline.errors import DomainError

EXIT_ERROR = 1


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print `error: message` on stderr and end the command with a non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a DomainError raised inside the block into `error: message` and exit 1."""
    try:
        yield
    except DomainError as exc:
        detail = "; ".join(exc.detail)
        fail(f"{exc.message} ({detail})" if detail else exc.message)
