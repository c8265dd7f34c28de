"""Police exports (signed evidence packages) and NCMEC CyberTipline report XML."""
