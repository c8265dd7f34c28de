"""Media: safe image decoding and hashing (MD5, SHA-1, SHA-256, PDQ)."""
