"""Media items: encrypted storage, safe decoding and hashing (MD5, SHA-1, SHA-256, PDQ)."""
