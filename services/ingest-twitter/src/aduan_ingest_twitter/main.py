"""Wiring: POST /v1/reports (signed X API v2 tweet payload) -> aduan.raw.twitter."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_twitter.config import TwitterSettings
from aduan_ingest_twitter.payload import parse_tweet
from aduan_kit.ingest import ingest_service
from aduan_kit.runner import serve
from aduan_kit.settings import load_settings

NAME = "ingest-twitter"
CHANNEL = "twitter"


def build(settings: TwitterSettings) -> FastAPI:
    return ingest_service(NAME, CHANNEL, parse_tweet, settings)


def main() -> None:
    settings = load_settings(TwitterSettings)
    serve(NAME, build(settings), settings)
