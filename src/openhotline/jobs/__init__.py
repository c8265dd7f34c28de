"""Background jobs: a durable job table dispatched through Huey (SQLite or Redis)."""
