"""Aduan notifier: signed webhooks to SKPD systems for routed reports and SLA escalations."""
