"""Routing, notices to hosts, referrals, follow-up re-checks and takedown statistics."""
