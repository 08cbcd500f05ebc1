"""Builders shared by the notifier's tests against real servers: the settings that point the notifier
at the local stand-ins (``conftest.py``), and publishing events as the upstream services key them."""

from typing import Any

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.fake_x import FakeX
from aduan_kit.testing.kafka import publish_bytes
from aduan_kit.testing.mailbox import Mailbox
from aduan_kit.testing.receiver import Receiver
from aduan_notifier.config import NotifierSettings
from aduan_schemas.events import Event

SECRET = "test-signing-secret"
QLUE_SECRET = "test-qlue-secret"
SMS_TOKEN = "test-sms-token"
X_TOKEN = "test-x-user-token"
FROM = "aduan@jakarta.go.id"
UNIT_MAIL = "{skpd_code}@skpd.jakarta.go.id"


async def publish(common: CommonSettings, topic: str, *events: Event) -> None:
    """Publish ``events`` in order, each keyed by its subject (the report id)."""
    for e in events:
        key = str(e.subject()).encode()
        await publish_bytes(common, topic, e.model_dump_json().encode(), key=key)


def settings(
    common: CommonSettings,
    receiver: Receiver | None = None,
    mailbox: Mailbox | None = None,
    xapi: FakeX | None = None,
    **kw: Any,
) -> NotifierSettings:
    """Webhooks, the Qlue callback and the SMS gateway go to ``receiver``, email to ``mailbox``, X
    replies to ``xapi``; a channel whose server is not given stays unconfigured. Retries are quick."""
    args: dict[str, Any] = {
        "common": common,
        "signing_secret": SECRET,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "request_timeout_s": 3,
        "max_attempts": 3,
        "contact_wait_s": 30,
    }
    if receiver is not None:
        args |= {
            "webhook_url_template": f"{receiver.url}/skpd/{{skpd_code}}",
            "qlue_callback_url": f"{receiver.url}/qlue",
            "qlue_callback_secret": QLUE_SECRET,
            "sms_gateway_url": f"{receiver.url}/sms",
            "sms_gateway_token": SMS_TOKEN,
        }
    if mailbox is not None:
        args |= {
            "smtp_host": mailbox.host,
            "smtp_port": mailbox.port,
            "smtp_starttls": False,
            "smtp_from": FROM,
            "unit_email_template": UNIT_MAIL,
        }
    if xapi is not None:
        args |= {"x_api_url": xapi.url, "x_bearer_token": X_TOKEN}
    return NotifierSettings(**(args | kw))
