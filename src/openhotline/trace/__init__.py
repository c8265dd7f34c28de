"""Hosting trace: DNS, IP, country and ASN (MaxMind DB), abuse contact (RDAP), CDN flag."""
