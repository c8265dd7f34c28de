"""Retention: purge personal and sensitive data on policy, honouring legal holds; audited."""
