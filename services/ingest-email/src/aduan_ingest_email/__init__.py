"""Aduan email ingest: an IMAP mailbox (IDLE, polling fallback) and a signed webhook -> aduan.raw.email."""
