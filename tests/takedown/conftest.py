"""Fixtures of the takedown tests."""

from takedown_world import make_world

__all__ = ["make_world"]
