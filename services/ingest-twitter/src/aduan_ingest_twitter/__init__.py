"""Aduan Twitter/X ingest: X API v2 filtered stream, mentions timeline and signed webhook -> aduan.raw.twitter."""
