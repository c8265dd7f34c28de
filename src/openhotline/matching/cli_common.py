"""What the matching commands share: the error console, the session factory, file checks."""

from __future__ import annotations

import stat
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cli_context import services

err = Console(stderr=True)


def _factory(ctx: typer.Context) -> sessionmaker[Session]:
    return services(ctx).sessionmaker


def _fail(message: str, code: int = 1) -> None:
    # Escaped: a path or an install hint like 'openhotline[ray]' is not console markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def regular_file_problem(path: Path, max_bytes: int) -> str | None:
    """Why a path is not hashed (not a regular file, too large), or None.

    A named pipe made `hash` and `scan` wait forever for a writer; a device or a huge file
    would be read whole. Only regular files up to the capture limit are read.
    """
    try:
        st = path.stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (skipped)"
    if st.st_size > max_bytes:
        return f"larger than {max_bytes} bytes, the capture limit (skipped)"
    return None
