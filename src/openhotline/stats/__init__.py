"""Hotline statistics: intake, assessment, takedown timing, referrals, appeals; suppressed."""
