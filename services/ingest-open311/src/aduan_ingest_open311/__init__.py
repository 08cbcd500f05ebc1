"""Aduan Open311 ingest: GeoReport v2 requests (web forms, walk-in desks, apps) -> aduan.raw.open311."""
