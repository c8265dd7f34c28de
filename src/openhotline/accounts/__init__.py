"""Accounts: staff users, roles and permissions, passwords, TOTP, console sessions."""
