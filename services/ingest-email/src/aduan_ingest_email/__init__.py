"""Aduan email ingest: signed RFC 822 message webhook -> aduan.raw.email."""
