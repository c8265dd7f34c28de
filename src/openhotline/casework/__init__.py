"""The workbench: case search, the whole case file, staff actions, hosts, the dashboard."""
