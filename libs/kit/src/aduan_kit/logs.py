"""One JSON object per log line on stderr, ours and the libraries' alike.

Every line has ``time`` (UTC, ISO 8601), ``level``, ``service`` and ``event`` (the message), plus
``report_id`` / ``event_id`` where one is in scope (``log.bind(...)`` or ``bind_contextvars``), and
``logger`` for lines of the libraries underneath (aiokafka, uvicorn, pymongo, httpx, asyncio), which
log through the standard library: their records go through the same processors via structlog's
``ProcessorFormatter``. Uncaught exceptions and Python warnings become log lines too.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

import structlog

from aduan_kit.redact import mask_log_fields

# Libraries whose INFO lines are per request or per query: kept at WARNING. aiokafka's INFO lines
# (group joins, partition assignments) are few and what an operator looks for, so they stay.
QUIET = ("pymongo", "httpx", "httpcore", "uvicorn.access")


def _shared(service: str) -> list[Any]:
    def add_service(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    ]


def configure_logging(service: str, level: str = "INFO") -> None:
    threshold = logging.getLevelName(level.upper())
    shared = _shared(service)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_log_fields,  # error texts and tracebacks may quote an input with a contact in it
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own handlers, if it set any
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    structlog.get_logger().critical("uncaught exception", exc_info=(kind, error, tb))


def get_logger(**bound: Any) -> Any:
    """A lazy logger: modules call this at import, before ``configure_logging`` ran."""
    return structlog.get_logger(**bound)
