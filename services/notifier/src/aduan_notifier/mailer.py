"""The SMTP edge: send one message with bounded retries (stdlib ``smtplib`` in a worker thread).

A 4xx answer or a broken connection is retried with the same back-off as webhooks; a 5xx answer
(recipient refused, message refused) is final. Nothing here logs a recipient address.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from aduan_notifier import deadline
from aduan_notifier.delivery import backoff_delay
from aduan_notifier.sender import Result, Sleep


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool
    user: str | None
    password: str | None
    timeout_s: float
    ca_file: str | None = None


class _Final(Exception):
    pass


@dataclass
class Mailer:
    config: SmtpConfig
    max_attempts: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 4.0
    sleep: Sleep = asyncio.sleep

    async def send(self, message: EmailMessage) -> Result:
        detail = "not attempted"
        for attempt in range(1, self.max_attempts + 1):
            remaining = deadline.left()
            if remaining is not None and remaining <= 0:
                return Result(False, attempt - 1, f"{detail}; batch deadline reached")
            try:
                await asyncio.to_thread(self._send_once, message)
                return Result(True, attempt, "SMTP accepted")
            except _Final as e:
                return Result(False, attempt, str(e))
            except (smtplib.SMTPException, OSError, TimeoutError) as e:
                detail = _describe(e)
            if attempt < self.max_attempts:
                wait = backoff_delay(attempt, self.backoff_initial_s, self.backoff_max_s)
                if not deadline.allows(wait):
                    return Result(False, attempt, f"{detail}; batch deadline reached")
                await self.sleep(wait)
        return Result(False, self.max_attempts, f"{detail} after {self.max_attempts} attempts")

    def _send_once(self, message: EmailMessage) -> None:
        c = self.config
        with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
            if c.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=c.ca_file))
            if c.user:
                try:
                    smtp.login(c.user, c.password or "")
                except smtplib.SMTPAuthenticationError as e:
                    raise _Final(f"SMTP login refused ({e.smtp_code})") from None
            try:
                smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as e:
                codes = sorted({code for code, _ in e.recipients.values()})
                if all(code >= 500 for code in codes):
                    raise _Final(f"SMTP recipient refused ({', '.join(map(str, codes))})") from None
                raise
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
                if e.smtp_code >= 500:
                    raise _Final(f"SMTP {e.smtp_code}: message refused") from None
                raise


def _describe(e: BaseException) -> str:
    # The code and class only: server texts may echo the recipient's address.
    code = getattr(e, "smtp_code", None)
    return f"{type(e).__name__} {code}" if code else type(e).__name__
