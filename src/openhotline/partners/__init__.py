"""Partner organisations (hotlines, police, hosts, platforms, filters) and their API keys."""
