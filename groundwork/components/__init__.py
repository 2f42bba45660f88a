"""One module per component; each exposes one @deploy function taking its settings."""
