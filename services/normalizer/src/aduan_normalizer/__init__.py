"""Aduan normalizer: raw channel reports -> one clean, classified, geocoded, pseudonymised report each."""
