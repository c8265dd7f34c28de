"""Media items: encrypted storage, safe decoding and hashing."""
