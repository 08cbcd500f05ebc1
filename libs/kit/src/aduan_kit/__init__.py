"""Plumbing shared by every Aduan service. No business rules live here."""
