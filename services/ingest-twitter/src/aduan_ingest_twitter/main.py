"""Wiring: the X API reader (filtered stream and mentions timeline, when configured) and POST /v1/reports
(signed X API v2 tweet payload), both -> aduan.raw.twitter."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_twitter.accounts import load_accounts
from aduan_ingest_twitter.checkpoint import COLLECTION, SinceIds
from aduan_ingest_twitter.config import TwitterSettings
from aduan_ingest_twitter.payload import parse_tweet
from aduan_ingest_twitter.source import TwitterSource
from aduan_kit.http import flag
from aduan_kit.ingest import ingest_service
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring
from aduan_kit.settings import load_settings

NAME = "ingest-twitter"
CHANNEL = "twitter"


def reads_x(settings: TwitterSettings) -> bool:
    return bool(settings.api_url and settings.bearer_token)


def build(settings: TwitterSettings) -> FastAPI:
    running: dict[str, TwitterSource] = {}  # the running reader, as app.state.x_source["source"]

    async def setup(runtime: Runtime) -> Wiring:
        if not reads_x(settings):
            return Wiring()
        city = load_accounts(settings.common.city_dir)
        source = running["source"] = TwitterSource(settings, runtime, SinceIds(runtime.db[COLLECTION]), city)
        return Wiring(tasks=[source.run], extra_checks={"x_api": flag(source.ready)})

    app = ingest_service(NAME, CHANNEL, parse_tweet, settings, setup=setup, uses_mongo=reads_x(settings))
    app.state.x_source = running
    return app


def main() -> None:
    settings = load_settings(TwitterSettings)
    serve(NAME, build(settings), settings)
