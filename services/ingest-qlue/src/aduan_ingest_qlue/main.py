"""Wiring: POST /v1/reports (signed Qlue report) -> aduan.raw.qlue."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_qlue.config import QlueSettings
from aduan_ingest_qlue.payload import parse_qlue
from aduan_kit.ingest import ingest_service, load_ingest_settings
from aduan_kit.runner import serve

NAME = "ingest-qlue"
CHANNEL = "qlue"


def build(settings: QlueSettings) -> FastAPI:
    return ingest_service(NAME, CHANNEL, parse_qlue, settings)


def main() -> None:
    settings = load_ingest_settings(QlueSettings)
    serve(NAME, build(settings), settings)
