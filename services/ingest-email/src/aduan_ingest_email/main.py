"""Wiring: POST /v1/reports (signed RFC 822 message) -> aduan.raw.email."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_email.config import EmailSettings
from aduan_ingest_email.message import parse_email
from aduan_kit.ingest import ingest_service
from aduan_kit.runner import serve
from aduan_kit.settings import load_settings

NAME = "ingest-email"
CHANNEL = "email"


def build(settings: EmailSettings) -> FastAPI:
    return ingest_service(NAME, CHANNEL, parse_email, settings)


def main() -> None:
    settings = load_settings(EmailSettings)
    serve(NAME, build(settings), settings)
