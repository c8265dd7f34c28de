"""The web layer shared by every domain: dependencies, errors, limits, templates."""
