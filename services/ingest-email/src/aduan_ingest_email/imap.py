"""A small asyncio IMAP4rev1 client: the commands this service needs and nothing else (RFC 3501, IDLE
RFC 2177, MOVE RFC 6851, UIDPLUS RFC 4315).

The standard library's ``imaplib`` blocks and has no IDLE; this client reads responses line by line and
reads each literal (``{n}``) with ``readexactly``, refusing any literal larger than ``max_literal`` so a
hostile server cannot exhaust memory. Every command is bounded by ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass, field
from typing import Self

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_TAGGED = re.compile(rb"^(A\d+) (OK|NO|BAD)\b ?(.*)", re.DOTALL)
MAX_LINE = 1_000_000


class ImapError(Exception):
    """The server refused a command, broke the protocol or closed the connection."""


@dataclass
class Untagged:
    """One untagged response: its text (each literal replaced by ``{n}``) and its literals, in order."""

    text: bytes
    literals: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    exists: int


def quoted(value: str) -> str:
    """An IMAP quoted string. CR and LF cannot be quoted; such values are refused."""
    if "\r" in value or "\n" in value:
        raise ValueError("IMAP strings cannot contain line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Imap:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float, max_literal: int
    ) -> None:
        self._reader, self._writer = reader, writer
        self.timeout_s, self.max_literal = timeout_s, max_literal
        self._tag = 0
        self.capabilities: frozenset[str] = frozenset()

    @classmethod
    async def connect(
        cls, host: str, port: int, *, tls: ssl.SSLContext | None, timeout_s: float, max_literal: int
    ) -> Self:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls, limit=MAX_LINE), timeout_s
        )
        imap = cls(reader, writer, timeout_s, max_literal)
        greeting = await asyncio.wait_for(imap._read_response(), timeout_s)
        if not greeting.text.startswith((b"* OK", b"* PREAUTH")):
            await imap.close()
            raise ImapError(f"server refused the connection: {greeting.text[:200]!r}")
        return imap

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 2)

    # -- protocol ----------------------------------------------------------------------------------
    async def _read_line(self) -> bytes:
        line = await self._reader.readline()
        if not line:
            raise ImapError("server closed the connection")
        return line

    async def _read_response(self) -> Untagged:
        """One response line, with its literals read in full."""
        line = await self._read_line()
        text, literals = b"", list[bytes]()
        while True:
            m = _LITERAL.search(line)
            if m is None:
                return Untagged(text + line.rstrip(b"\r\n"), literals)
            size = int(m.group(1))
            if size > self.max_literal:
                raise ImapError(f"server sent a literal of {size} bytes (limit {self.max_literal})")
            literals.append(await self._reader.readexactly(size))
            text += line[: m.start()] + b"{%d}" % size
            line = await self._read_line()

    def _next_tag(self) -> str:
        self._tag += 1
        return f"A{self._tag}"

    async def command(self, line: str) -> list[Untagged]:
        """Send one tagged command; return its untagged responses. Raises ``ImapError`` on NO/BAD."""
        tag = self._next_tag()
        self._writer.write(f"{tag} {line}\r\n".encode())
        return await asyncio.wait_for(self._until_tagged(tag, line.split(" ", 1)[0]), self.timeout_s)

    async def _until_tagged(self, tag: str, name: str) -> list[Untagged]:
        await self._writer.drain()
        untagged: list[Untagged] = []
        while True:
            resp = await self._read_response()
            m = _TAGGED.match(resp.text)
            if m is None:
                if resp.text.startswith(b"* BYE"):
                    raise ImapError(f"server closed the session: {resp.text[:200]!r}")
                untagged.append(resp)
                continue
            if m.group(1).decode() != tag:
                raise ImapError(f"unexpected tag in {resp.text[:100]!r}")
            if m.group(2) != b"OK":
                said = m.group(3)[:200].decode(errors="replace")
                raise ImapError(f"{name} refused: {m.group(2).decode()} {said}")
            self._note_capabilities(m.group(3))
            return untagged

    def _note_capabilities(self, text: bytes) -> None:
        m = re.match(rb"\[CAPABILITY ([^\]]*)\]", text)
        if m:
            self.capabilities = frozenset(m.group(1).decode().upper().split())

    # -- commands ----------------------------------------------------------------------------------
    async def login(self, user: str, password: str) -> None:
        await self.command(f"LOGIN {quoted(user)} {quoted(password)}")
        for resp in await self.command("CAPABILITY"):
            if resp.text.startswith(b"* CAPABILITY "):
                self.capabilities = frozenset(resp.text[13:].decode().upper().split())

    async def create(self, folder: str) -> None:
        """Create ``folder``; a folder that already exists is fine."""
        try:
            await self.command(f"CREATE {quoted(folder)}")
        except ImapError as e:
            if "ALREADYEXISTS" not in str(e).upper() and "EXISTS" not in str(e).upper():
                raise

    async def select(self, folder: str) -> Selected:
        uidvalidity, exists = None, 0
        for resp in await self.command(f"SELECT {quoted(folder)}"):
            if m := re.match(rb"\* OK \[UIDVALIDITY (\d+)\]", resp.text):
                uidvalidity = int(m.group(1))
            elif m := re.match(rb"\* (\d+) EXISTS", resp.text):
                exists = int(m.group(1))
        if uidvalidity is None:
            raise ImapError(f"SELECT {folder}: the server sent no UIDVALIDITY")
        return Selected(uidvalidity, exists)

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` in the selected folder, ascending. (``n:*`` always matches the highest
        UID even when it is below n, hence the filter.)"""
        found: set[int] = set()
        for resp in await self.command(f"UID SEARCH UID {last_uid + 1}:*"):
            if resp.text.startswith(b"* SEARCH"):
                found.update(int(x) for x in resp.text[8:].split())
        return sorted(u for u in found if u > last_uid)

    async def has_uid(self, uid: int) -> bool:
        for resp in await self.command(f"UID SEARCH UID {uid}"):
            if resp.text.startswith(b"* SEARCH") and str(uid).encode() in resp.text[8:].split():
                return True
        return False

    async def fetch_size(self, uid: int) -> int | None:
        """The message's size in bytes; None if the UID no longer exists."""
        for resp in await self.command(f"UID FETCH {uid} (UID RFC822.SIZE)"):
            m = re.search(rb"RFC822\.SIZE (\d+)", resp.text)
            if m and re.search(rb"\bUID %d\b" % uid, resp.text):
                return int(m.group(1))
        return None

    async def fetch_message(self, uid: int) -> bytes | None:
        """The whole message (``BODY.PEEK[]``: the \\Seen flag is left alone); None if the UID is gone."""
        for resp in await self.command(f"UID FETCH {uid} (UID BODY.PEEK[])"):
            if re.search(rb"\bUID %d\b" % uid, resp.text) and resp.literals:
                return resp.literals[0]
        return None

    async def move(self, uid: int, folder: str) -> None:
        """Move one message: MOVE where the server has it, else COPY, flag \\Deleted, expunge."""
        if "MOVE" in self.capabilities:
            await self.command(f"UID MOVE {uid} {quoted(folder)}")
            return
        await self.command(f"UID COPY {uid} {quoted(folder)}")
        await self.command(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
        await self.command(f"UID EXPUNGE {uid}" if "UIDPLUS" in self.capabilities else "EXPUNGE")

    async def mark_seen(self, uid: int) -> None:
        await self.command(f"UID STORE {uid} +FLAGS.SILENT (\\Seen)")

    async def idle(self, timeout_s: float) -> bool:
        """Wait in IDLE until the server announces new mail (True) or ``timeout_s`` passes (False)."""
        tag = self._next_tag()
        self._writer.write(f"{tag} IDLE\r\n".encode())
        await self._writer.drain()
        while True:  # untagged responses may precede the continuation
            first = await asyncio.wait_for(self._read_response(), self.timeout_s)
            if first.text.startswith(b"+"):
                break
            if _TAGGED.match(first.text):
                raise ImapError(f"IDLE refused: {first.text[:200]!r}")
        woke = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (remaining := deadline - loop.time()) > 0:
            try:
                resp = await asyncio.wait_for(self._read_response(), remaining)
            except TimeoutError:
                break
            if resp.text.startswith(b"* BYE"):
                raise ImapError(f"server closed the session: {resp.text[:200]!r}")
            if re.match(rb"\* \d+ (EXISTS|RECENT)", resp.text):
                woke = True
                break
        self._writer.write(b"DONE\r\n")
        await asyncio.wait_for(self._until_tagged(tag, "IDLE"), self.timeout_s)
        return woke

    async def logout(self) -> None:
        with contextlib.suppress(ImapError, OSError, TimeoutError):
            await self.command("LOGOUT")
        await self.close()
