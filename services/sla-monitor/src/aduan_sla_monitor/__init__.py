"""Aduan SLA monitor: the case store, status updates from SKPD systems, deadline breaches with escalation."""
