"""Fixtures of the takedown tests."""

from tests.takedown.takedown_world import make_world

__all__ = ["make_world"]
