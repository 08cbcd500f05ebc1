"""Report ids: derived deterministically from the first raw event of a report.

The same channel message always gets the same id, so a re-delivered (or re-published) message can be
recognised and never makes a second report. The namespace is part of the contract: changing it would
give every past report a new id.
"""

from __future__ import annotations

import uuid

from aduan_schemas.events import RawReport

REPORT_ID_NAMESPACE = uuid.UUID("5b0f3c1e-8a4d-5e2b-9c7a-61d2e4f0a3b9")


def report_id_for(channel: str, channel_message_id: str) -> str:
    """``uuid5(REPORT_ID_NAMESPACE, "<channel>:<channel_message_id>")`` as a string."""
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, f"{channel}:{channel_message_id}"))


def report_id(raw: RawReport) -> str:
    return report_id_for(raw.channel, raw.channel_message_id)
