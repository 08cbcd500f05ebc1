"""Signed webhooks: HMAC-SHA256 over ``"<timestamp>.<body>"``.

Headers: ``X-Aduan-Timestamp`` (Unix seconds) and ``X-Aduan-Signature: sha256=<hex>``. The timestamp
bounds replay to ``tolerance`` seconds on both sides: a timestamp further in the past *or the future*
is refused (a future one would otherwise extend a captured request's life). Headers are untrusted:
anything but ASCII digits in the timestamp or ASCII in the signature is a ``SignatureError`` (401),
never an exception of the comparison. The same scheme signs what the notifier sends to SKPD systems.

Inside the window, a byte-identical request (same timestamp, same body, so the same signature) is a
replay: ``verify`` returns the signature's digest and the time until which it must be remembered, and
the receiver refuses a digest it accepted before (the ingest adapters keep them in their outbox). A
sender that retries signs again with a new timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

TIMESTAMP_HEADER = "X-Aduan-Timestamp"
SIGNATURE_HEADER = "X-Aduan-Signature"
DEFAULT_TOLERANCE_S = 300
MAX_TIMESTAMP_DIGITS = 12


class SignatureError(ValueError):
    pass


@dataclass(frozen=True)
class Verified:
    """A request whose signature passed. ``digest`` (SHA-256 of the signature, not the signature itself)
    names it for replay detection until ``expires_at``, when its timestamp leaves the window anyway."""

    timestamp: int
    digest: bytes
    expires_at: int


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers that authenticate ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"sha256={mac}"}


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> Verified:
    """Raise ``SignatureError`` with the reason unless the signature is valid and fresh."""
    if not timestamp or not signature:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    # int() alone would take "+1", " 1" or non-ASCII digits; compare_digest raises on non-ASCII str.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds")
    if not signature.isascii():
        raise SignatureError("signature does not match")
    ts = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance} s window")
    expected = sign(secret, body, ts)[SIGNATURE_HEADER]
    if not hmac.compare_digest(expected, signature.strip()):
        raise SignatureError("signature does not match")
    return Verified(ts, hashlib.sha256(expected.encode()).digest(), ts + tolerance)
