"""How CLI commands receive the composition root's services (built lazily, once).

The root command (openhotline/cli.py) puts a CliState in the Typer context; a command asks
for `services(ctx)` only when it needs the database or an adapter, so `--help` and
commands that touch nothing stay fast and work in an empty folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from openhotline.bootstrap import Services
    from openhotline.config import Settings


class CliState:
    """Holds the builder of the process's services and the built instance."""

    def __init__(
        self, settings: Callable[[], Settings], build: Callable[[Settings], Services]
    ) -> None:
        self._settings = settings
        self._build = build
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        """The process settings (no database needed)."""
        return self._settings()

    @property
    def services(self) -> Services:
        """The process services, built on first use."""
        if self._services is None:
            self._services = self._build(self._settings())
        return self._services

    def close(self) -> None:
        """Release what the services hold."""
        if self._services is not None:
            self._services.close()
            self._services = None


def state(ctx: typer.Context) -> CliState:
    """The CliState the root command installed."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise RuntimeError("the openhotline root command did not set up the CLI state")
    return obj


def services(ctx: typer.Context) -> Services:
    """The composition root's services for this command."""
    return state(ctx).services


def settings(ctx: typer.Context) -> Settings:
    """The settings for this command (without opening the database)."""
    return state(ctx).settings
