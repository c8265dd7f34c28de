"""Network safety shared by the crawler and re-checks: own DNS resolution and SSRF guards."""
