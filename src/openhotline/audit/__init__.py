"""Audit: an append-only, hash-chained log of logins, reveals, decisions, exports, settings."""
