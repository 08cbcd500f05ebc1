"""Aduan X (Twitter) ingest: filtered stream, mentions timeline and signed webhook -> aduan.raw.twitter."""
