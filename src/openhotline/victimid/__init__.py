"""Victim identification: series of items of the same victim, place or production."""
