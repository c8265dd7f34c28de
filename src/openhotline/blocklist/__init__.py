"""Versioned, signed URL block list and hash list for partners; appeals against listings."""
