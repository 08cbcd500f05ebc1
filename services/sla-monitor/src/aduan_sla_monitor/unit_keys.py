"""Per-unit API keys of the status API: a keys file holds only a SHA-256 hash of each key.

One line per key: ``<skpd_code> <sha256 hex of the key>`` (``#`` starts a comment). A key is 32 random
bytes (``aduk_`` + URL-safe base64), so a plain hash cannot be reversed by guessing; the key itself is
printed once when made (``aduan unit-key new <code>``) and stored nowhere. A unit may hold several keys
(rotation: add the new one, then revoke the old ones with ``aduan unit-key revoke <code>``). The file is
re-read when it changes, so keys work without a restart.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

KEY_PREFIX = "aduk_"
MAX_KEY_LENGTH = 200


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse(text: str) -> dict[str, str]:
    """Hash -> unit code. Raises ``ValueError`` naming the line of a malformed entry."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) != 64:
            raise ValueError(f"keys file line {n}: expected '<skpd_code> <sha256 hex>'")
        out[parts[1].lower()] = parts[0]
    return out


def add_key(path: Path, code: str) -> str:
    """Make a key for ``code``, append its hash to the file (created 0600), return the key."""
    key = new_key()
    append_hash(path, code, key)
    return key


def append_hash(path: Path, code: str, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(f"{code} {key_hash(key)}\n")


def revoke(path: Path, code: str) -> int:
    """Remove every key of ``code``; returns how many were removed."""
    if not path.exists():
        return 0
    kept, removed = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.split("#", 1)[0].split()[:1] == [code]:
            removed += 1
        else:
            kept.append(line)
    path.write_text("".join(f"{x}\n" for x in kept), encoding="utf-8")
    return removed


class UnitKeys:
    """The keys file as the API reads it: reloaded when its modification time or size changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._by_hash: dict[str, str] = {}

    @property
    def configured(self) -> bool:
        return self.path is not None

    def unit_for(self, key: str) -> str | None:
        """The unit whose key this is, or None."""
        if self.path is None or not key or len(key) > MAX_KEY_LENGTH:
            return None
        self._refresh(self.path)
        return self._by_hash.get(key_hash(key))

    def _refresh(self, path: Path) -> None:
        try:
            st = path.stat()
        except FileNotFoundError:
            self._by_hash, self._stamp = {}, None
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            self._by_hash = parse(path.read_text(encoding="utf-8"))
            self._stamp = stamp
