"""The list of domains and what each declares; the only central file a new domain touches.

Each domain package has a `domain.py` holding `DOMAIN = Domain(...)`: its tables, routers,
CLI commands, job handlers and tick hooks, named as "module:attribute" strings so that
declaring them imports nothing (the CLI starts fast; no import cycle through here).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

# Order matters only for routers (first match wins) and CLI help; keep it stable.
DOMAIN_PACKAGES: tuple[str, ...] = (
    "audit",
    "accounts",
    "cases",
    "reporting",
    "media",
    "matching",
    "assessment",
    "capture",
    "trace",
    "takedown",
    "partners",
    "signing",
    "blocklist",
    "federation",
    "exports",
    "police",
    "casework",
    "helpline",
    "reportremove",
    "stats",
    "victimid",
    "retention",
    "jobs",
    "apidocs",
    "console",
)

# "core" routers are always mounted; the others only when listed in settings.modules.
Module = Literal["core", "hotline", "helpline"]


@dataclass(frozen=True)
class Domain:
    """What one domain contributes to the processes that compose it."""

    name: str
    module: Module = "core"
    models: tuple[str, ...] = ()  # modules defining tables ("openhotline.x.models")
    routers: tuple[str, ...] = ()  # "module:router" FastAPI routers, in mount order
    # Routers of this package that belong to another deployment module (console pages of
    # the helpline, say, mount only where the helpline runs).
    module_routers: tuple[tuple[Module, str], ...] = ()
    cli: tuple[tuple[str | None, str], ...] = ()  # (name, "module:typer_app_or_register")
    handlers: dict[str, str] = field(default_factory=dict)  # job kind -> "module:function"
    tick_hooks: tuple[str, ...] = ()  # "module:function(services)" run by the worker tick

    def mounted_routers(self) -> list[tuple[Module, str]]:
        """Every router with the deployment module that decides whether it is mounted."""
        return [(self.module, ref) for ref in self.routers] + list(self.module_routers)


def resolve(ref: str) -> Any:
    """Import "package.module:attribute" and return the attribute."""
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


@cache
def all_domains() -> tuple[Domain, ...]:
    """Every domain's declaration, in DOMAIN_PACKAGES order."""
    out = []
    for name in DOMAIN_PACKAGES:
        domain = resolve(f"openhotline.{name}.domain:DOMAIN")
        if not isinstance(domain, Domain) or domain.name != name:
            raise RuntimeError(f"openhotline.{name}.domain must define DOMAIN = Domain({name!r})")
        out.append(domain)
    return tuple(out)


@cache
def load_models() -> int:
    """Import every domain's tables, so metadata holds the whole schema; return the count."""
    count = 0
    for domain in all_domains():
        for ref in domain.models:
            resolve(ref)
            count += 1
    return count


def handlers() -> dict[str, Callable[..., None]]:
    """Every job handler by kind (a kind declared twice is a programming error)."""
    out: dict[str, Callable[..., None]] = {}
    for domain in all_domains():
        for kind, ref in domain.handlers.items():
            if kind in out:
                raise RuntimeError(f"job kind {kind!r} declared twice")
            out[kind] = resolve(ref)
    return out


def tick_hooks() -> list[Callable[..., None]]:
    """Every domain's tick hook, in domain order."""
    return [resolve(ref) for domain in all_domains() for ref in domain.tick_hooks]
