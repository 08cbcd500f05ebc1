"""Report ids: derived deterministically from the first raw event of a report.

The same channel message always gets the same id, so a re-delivered (or re-published) message can be
recognised and never makes a second report. The namespace is part of the contract: changing it would
give every past report a new id.
"""

from __future__ import annotations

import hashlib
import uuid

from aduan_schemas.events import RawReport

REPORT_ID_NAMESPACE = uuid.UUID("5b0f3c1e-8a4d-5e2b-9c7a-61d2e4f0a3b9")
_NAMESPACE_SHA1 = hashlib.sha1(REPORT_ID_NAMESPACE.bytes, usedforsecurity=False)


def report_id_for(channel: str, channel_message_id: str) -> str:
    """``uuid5(REPORT_ID_NAMESPACE, "<channel>:<channel_message_id>")`` as a string.

    Computed as RFC 4122 does (SHA-1 of namespace and name, version 5 and variant bits set) without the
    ``uuid.UUID`` object, which costs twice the hash: every stage derives ids on its hot path.
    """
    h = _NAMESPACE_SHA1.copy()
    h.update(f"{channel}:{channel_message_id}".encode())
    b = bytearray(h.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def report_id(raw: RawReport) -> str:
    return report_id_for(raw.channel, raw.channel_message_id)
