"""Aduan SMS ingest: signed inbound-SMS gateway webhook -> aduan.raw.sms."""
