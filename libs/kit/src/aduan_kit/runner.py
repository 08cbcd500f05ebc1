"""Run a service's FastAPI app under uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from aduan_kit.logs import configure_logging
from aduan_kit.service import EXIT_ON_TASK_FAILURE
from aduan_kit.settings import ServiceSettings


def serve(name: str, app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(name, settings.common.log_level)
    EXIT_ON_TASK_FAILURE["enabled"] = True
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
