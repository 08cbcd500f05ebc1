"""What may leave a raw topic about a record that failed: reasons without inputs, contacts masked.

Reporter contact (phone, e-mail, handle, name) exists only on ``aduan.raw.<channel>``. A failure reason
is written to the dead-letter record, its headers and the logs, so it must not carry that contact:

- a pydantic ``ValidationError`` is described by field location and message only (its ``str()`` echoes
  the offending input, e.g. ``input_value='+62812…'``);
- any other reason, and every ``error``/``exception``/``reason`` field of a log line (tracebacks
  included), passes through ``aduan_text.pii.mask_contacts`` (``[TELEPON]``, ``[EMAIL]``, ``[AKUN]``).

Names cannot be recognised in free text; the raw payload, where they are, is never copied (see
``aduan_kit.kafka``: a dead letter of a raw record keeps a pointer only).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from pydantic import ValidationError

from aduan_text.pii import mask_contacts

MAX_ERRORS = 5
LOG_FIELDS = ("error", "exception", "reason", "detail")


def describe_validation(error: ValidationError, limit: int = MAX_ERRORS) -> str:
    """``loc: message`` per error (at most ``limit``), never the input."""
    parts = []
    for err in error.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "value"
        parts.append(f"{where}: {err['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def error_text(error: BaseException) -> str:
    """``<type>: <reason>`` safe to store and log beyond the raw topic."""
    reason = describe_validation(error) if isinstance(error, ValidationError) else str(error)
    return f"{type(error).__name__}: {mask_contacts(reason)}"


def mask_log_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor (after ``format_exc_info``): contacts masked in the fields that carry
    error text, which may quote an input."""
    for name in LOG_FIELDS:
        value = event.get(name)
        if isinstance(value, str):
            event[name] = mask_contacts(value)
    return event
