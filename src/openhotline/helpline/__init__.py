"""Helpline: confidential contacts from children and adults at risk, and anonymised trends."""
