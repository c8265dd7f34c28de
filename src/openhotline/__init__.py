"""openhotline: self-hosted platform for hotlines, helplines and their partners."""

__version__ = "0.1.0"
