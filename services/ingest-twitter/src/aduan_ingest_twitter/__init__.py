"""Aduan Twitter/X ingest: X API v2 filtered stream and mentions timeline, signed webhook -> aduan.raw.twitter."""
