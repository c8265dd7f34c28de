"""Public and partner reporting: reports, receipts, cases and their timelines."""
