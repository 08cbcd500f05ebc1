"""structlog JSON logs on stderr; bind report_id / event_id with ``log.bind(...)``."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from aduan_kit.redact import mask_log_fields


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    for noisy in ("aiokafka", "pymongo", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_log_fields,  # error texts and tracebacks may quote an input with a contact in it
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(**bound: Any) -> Any:
    """A lazy logger: modules call this at import, before ``configure_logging`` ran."""
    return structlog.get_logger(**bound)
