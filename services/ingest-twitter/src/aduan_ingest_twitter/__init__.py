"""Aduan Twitter/X ingest: signed X API v2 tweet webhook -> aduan.raw.twitter."""
