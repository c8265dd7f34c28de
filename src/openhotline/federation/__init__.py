"""Hotline-to-hotline referrals between openhotline instances: signed, idempotent, retried."""
