"""Matching: hash banks, the PDQ index and matching of hashes and images."""
