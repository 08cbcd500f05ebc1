"""Wiring: POST /v1/reports (signed Qlue report) -> aduan.raw.qlue."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_qlue.config import QlueSettings
from aduan_ingest_qlue.payload import parse_qlue
from aduan_kit.ingest import ingest_service
from aduan_kit.runner import serve
from aduan_kit.settings import load_settings

NAME = "ingest-qlue"
CHANNEL = "qlue"


def build(settings: QlueSettings) -> FastAPI:
    return ingest_service(NAME, CHANNEL, parse_qlue, settings)


def main() -> None:
    settings = load_settings(QlueSettings)
    serve(NAME, build(settings), settings)
