"""Wiring: the mailbox reader (IMAP, when configured) and POST /v1/reports (signed RFC 822 message),
both -> aduan.raw.email."""

from __future__ import annotations

from fastapi import FastAPI

from aduan_ingest_email.checkpoint import COLLECTION, Checkpoints
from aduan_ingest_email.config import EmailSettings
from aduan_ingest_email.mailbox import MailboxReader
from aduan_ingest_email.message import parse_email
from aduan_kit.http import flag
from aduan_kit.ingest import ingest_service
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring
from aduan_kit.settings import load_settings

NAME = "ingest-email"
CHANNEL = "email"


def build(settings: EmailSettings) -> FastAPI:
    async def setup(runtime: Runtime) -> Wiring:
        if settings.imap_host is None:
            return Wiring()
        reader = MailboxReader(settings, runtime, Checkpoints(runtime.db[COLLECTION]))
        return Wiring(tasks=[reader.run], extra_checks={"mailbox": flag(lambda: reader.state.connected)})

    return ingest_service(
        NAME, CHANNEL, parse_email, settings, setup=setup, uses_mongo=settings.imap_host is not None
    )


def main() -> None:
    settings = load_settings(EmailSettings)
    serve(NAME, build(settings), settings)
