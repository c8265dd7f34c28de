"""Safe capture of the media a case's URL shows: fetch, sniff, store encrypted, hash, match."""
