"""Aduan router: normalized report -> one SKPD, its topic, and SLA deadlines."""
