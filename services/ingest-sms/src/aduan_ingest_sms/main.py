"""Wiring: POST /v1/reports (signed inbound SMS, or one part of a long one) -> aduan.raw.sms."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_sms.config import SmsSettings
from aduan_ingest_sms.message import assemble, parse_sms
from aduan_kit.ingest import ingest_service
from aduan_kit.runner import serve
from aduan_kit.settings import load_settings

NAME = "ingest-sms"
CHANNEL = "sms"


def build(settings: SmsSettings) -> FastAPI:
    return ingest_service(NAME, CHANNEL, parse_sms, settings, assemble=assemble)


def main() -> None:
    settings = load_settings(SmsSettings)
    serve(NAME, build(settings), settings)
