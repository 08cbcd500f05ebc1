"""A real Dovecot IMAP server for mailbox tests (the `dovecot` fixture), started once per test session.

It runs from a configuration of its own in a temporary directory, on a free loopback port, with plain
authentication (loopback only, no TLS) and a static user database: any user name logs in with
``PASSWORD`` and gets its own maildir, so each test uses a fresh mailbox. Dovecot refuses uid 0 for mail,
so mail belongs to the system user ``mail`` (uid 8) and ``first_valid_uid = 8``. Test mail is delivered
with IMAP APPEND (the standard library's ``imaplib``, a client independent of the one under test);
``mail`` makes a citizen's message.

When the ``dovecot`` binary is missing and the tests run as root on Debian, the fixture installs
``dovecot-imapd``; it skips with the reason only when that is not possible.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from aduan_kit.embedded import free_port, port_open

PASSWORD = "dovecot-test-password"
OLD_DATE = "Mon, 02 Mar 2026 10:00:00 +0700"
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = {ssl}
{ssl_files}disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = {uid}
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_location = maildir:{root}/mail/%n
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dovecot-imapd"]
    for cmd in (["apt-get", "update", "-qq"], install):
        if subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode != 0:
            return None
    return shutil.which("dovecot") or "/usr/sbin/dovecot"


def self_signed(root: Path) -> Path | None:
    """A certificate for 127.0.0.1 and its key (``cert.pem``, ``key.pem``); None without ``openssl``."""
    if not shutil.which("openssl"):
        return None
    cmd = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=60)
    return root / "cert.pem" if done.returncode == 0 else None


def mail(n: str, text: str = "Sampah menumpuk di Jl. Kramat Raya", **headers: str) -> bytes:
    """A citizen's plain-text mail, ``Message-ID: <n@example.co.id>``; ``headers`` (``_`` for ``-``) add
    headers or replace the defaults (``Date`` is a fixed day in the past)."""
    fields = {
        "From": "Rina Wijaya <rina@example.co.id>",
        "To": "dki@jakarta.go.id",
        "Subject": "Laporan warga",
        "Date": OLD_DATE,
        "Message-ID": f"<{n}@example.co.id>",
    } | {name.replace("_", "-"): value for name, value in headers.items()}
    msg = EmailMessage()
    for name, value in fields.items():
        msg[name] = value
    msg.set_content(text)
    return msg.as_bytes()


@dataclass
class Dovecot:
    port: int
    root: Path
    host: str = "127.0.0.1"
    password: str = PASSWORD
    tls_port: int | None = None  # implicit TLS (IMAPS), when a certificate could be made
    ca_file: Path | None = None  # the self-signed certificate to trust for it

    def log_count(self, text: str) -> int:
        """Lines of Dovecot's log containing ``text``."""
        log = self.root / "dovecot.log"
        return sum(text in line for line in log.read_text().splitlines()) if log.exists() else 0

    def new_user(self) -> str:
        return f"warga{uuid.uuid4().hex[:10]}"

    def client(self, user: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.login(user, self.password)
        return imap

    def append(self, user: str, *messages: bytes, folder: str = "INBOX") -> None:
        imap = self.client(user)
        try:
            for m in messages:
                typ, data = imap.append(folder, None, None, m)
                assert typ == "OK", data
        finally:
            imap.logout()

    def message_ids(self, user: str, folder: str) -> list[str]:
        """The Message-IDs of the messages in ``folder`` ([] if it does not exist), in UID order."""
        imap = self.client(user)
        try:
            typ, _ = imap.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return []
            _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            out = []
            for item in data:
                if isinstance(item, tuple):
                    value = item[1].decode().split(":", 1)[1].strip() if b":" in item[1] else ""
                    out.append(value.strip("<>"))
            return out
        finally:
            imap.logout()

    def seen_flags(self, user: str, folder: str = "INBOX") -> list[bool]:
        imap = self.client(user)
        try:
            imap.select(f'"{folder}"', readonly=True)
            _, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            return [b"\\Seen" in d for d in data if isinstance(d, bytes)]
        finally:
            imap.logout()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        pytest.skip("Dovecot not available: install the Debian package dovecot-imapd (needs root)")
    if os.geteuid() == 0:
        mail = pwd.getpwnam("mail")
        uid, gid, login_user, internal_user = mail.pw_uid, mail.pw_gid, "dovenull", "dovecot"
    else:  # unprivileged: everything runs as the current user
        me = pwd.getpwuid(os.geteuid())
        uid, gid, login_user, internal_user = me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
    with tempfile.TemporaryDirectory(prefix="aduan-dovecot-") as d:
        root = Path(d)
        os.chmod(root, 0o755)
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        os.chown(root / "mail", uid, gid)
        port = free_port()
        cert = self_signed(root)
        tls_port = free_port() if cert else None
        ssl_files = f"ssl_cert = <{cert}\nssl_key = <{root / 'key.pem'}\n" if cert else ""
        conf = root / "dovecot.conf"
        conf.write_text(
            CONFIG.format(
                root=root,
                port=port,
                tls_port=tls_port or 0,
                ssl="yes" if cert else "no",
                ssl_files=ssl_files,
                uid=uid,
                gid=gid,
                login_user=login_user,
                internal_user=internal_user,
                password=PASSWORD,
            )
        )
        proc = subprocess.Popen(
            [binary, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not port_open(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                    pytest.fail(f"Dovecot did not start on port {port}: {log[-2000:]}")
                time.sleep(0.05)
            yield Dovecot(port, root, tls_port=tls_port, ca_file=cert)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
