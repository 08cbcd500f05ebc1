"""A real SMTP server (aiosmtpd) on a free loopback port that records the messages it accepts.

Optionally it requires STARTTLS (with a self-signed certificate for 127.0.0.1 made by the ``openssl``
command) and a login. aiosmtpd is a test dependency (the notifier's ``test`` extra): it is imported when
a server starts.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aduan_kit.embedded import free_port


@dataclass
class Mailbox:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)  # (rcpt_tos, message)
    refuse: list[str] = field(default_factory=list)  # SMTP answers to give to the next DATA commands
    lock: threading.Lock = field(default_factory=threading.Lock)
    certificate: Path | None = None  # the server's certificate (trust it to verify the server)
    logins: list[str] = field(default_factory=list)  # user names that logged in

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse:
                return self.refuse.pop(0)
            msg = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@contextmanager
def smtp_server(tls_dir: Path | None = None, login: tuple[str, str] | None = None) -> Iterator[Mailbox]:
    """With ``tls_dir``, STARTTLS is required (certificate and key are written there); with ``login``
    (user, password), AUTH is required, and refused before STARTTLS when TLS is on."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox(port=free_port())
    options: dict[str, Any] = {}
    if tls_dir is not None:
        cert, key = tls_dir / "smtp-cert.pem", tls_dir / "smtp-key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        box.certificate = cert
        options |= {"tls_context": context, "require_starttls": True}
    if login is not None:

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            if ok:
                with box.lock:
                    box.logins.append(data.login.decode())
            return AuthResult(success=ok)

        options |= {"authenticator": authenticate, "auth_required": True,
                    "auth_require_tls": tls_dir is not None}  # fmt: skip
    controller = Controller(box, hostname=box.host, port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
