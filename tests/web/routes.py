"""The app's route table, flattened (FastAPI >= 0.120 nests included routers)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def api_routes(app: FastAPI) -> list[Any]:
    """Every APIRoute of the app with its effective path, methods and dependant."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        flat: list[Any] = list(app.routes)
    else:
        flat = list(iter_route_contexts(app.routes))
    return [r for r in flat if isinstance(getattr(r, "original_route", r), APIRoute)]
