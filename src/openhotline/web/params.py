"""Bounded numeric parameters for every route: an out-of-range number is a 422, never a 500.

An unbounded `int` in a path, query or form lets 10**30 reach the database driver, which
raises OverflowError (HTTP 500). Every id a route takes is a DbId; a test walks the route
table and refuses any int parameter without an upper bound.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

# The largest id any of our tables hands out (a 32-bit signed integer column).
MAX_DB_ID = 2_147_483_647

# A database id in a path, query or form (the location comes from the route, as for any int).
DbId = Annotated[int, Ge(1), Le(MAX_DB_ID)]

# A 0-based page number of a listing: far beyond any real listing, far below any overflow.
PageNumber = Annotated[int, Ge(0), Le(1_000_000)]
