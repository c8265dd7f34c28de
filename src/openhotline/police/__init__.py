"""The police channel: referrals police receive, acknowledge, clear or hold, with SLAs."""
