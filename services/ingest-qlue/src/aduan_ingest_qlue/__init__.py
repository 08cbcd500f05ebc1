"""Aduan Qlue ingest: signed Qlue report webhook -> aduan.raw.qlue."""
