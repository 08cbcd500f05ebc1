"""The SMTP edge against a real SMTP server (aiosmtpd): STARTTLS, login, retries and refusals."""

from email.message import EmailMessage
from pathlib import Path

from aduan_kit.testing.mailbox import Mailbox, smtp_server
from aduan_notifier.mailer import Mailer, SmtpConfig


def message() -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "aduan@jakarta.go.id", "dbm@skpd.jakarta.go.id", "Uji"
    m.set_content("Isi pesan")
    return m


def mailer(box: Mailbox, waits: list[float], **kw: object) -> Mailer:
    async def sleep(s: float) -> None:
        waits.append(s)

    config = {
        "host": box.host,
        "port": box.port,
        "starttls": False,
        "user": None,
        "password": None,
        "timeout_s": 5,
    } | kw
    return Mailer(SmtpConfig(**config), max_attempts=3, backoff_initial_s=0.1, backoff_max_s=0.2, sleep=sleep)  # type: ignore[arg-type]


async def test_starttls_with_a_trusted_certificate_and_a_login(tmp_path: Path) -> None:
    """Checked to fail: with the ``starttls`` call removed, the server refused the login before TLS."""
    with smtp_server(tls_dir=tmp_path, login=("aduan", "rahasia")) as box:
        assert box.certificate is not None
        ok = await mailer(
            box, [], starttls=True, user="aduan", password="rahasia", ca_file=str(box.certificate)
        ).send(message())
        untrusted = await mailer(box, [], starttls=True, user="aduan", password="rahasia").send(message())
    assert ok.delivered and ok.attempts == 1 and box.logins == ["aduan"] and box.count() == 1
    assert not untrusted.delivered and "SSLCertVerificationError" in untrusted.detail


async def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_final() -> None:
    with smtp_server() as box:
        box.refuse.append("451 4.3.0 Coba lagi nanti")
        waits: list[float] = []
        retried = await mailer(box, waits).send(message())
        box.refuse.append("554 5.7.1 Ditolak")
        refused = await mailer(box, []).send(message())
    assert retried.delivered and retried.attempts == 2 and waits == [0.1]
    assert not refused.delivered and refused.attempts == 1 and refused.detail == "SMTP 554: message refused"
    assert box.count() == 1
