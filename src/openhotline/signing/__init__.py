"""Ed25519 signing key of this hotline: signs lists, referrals and police exports."""
