from datetime import UTC, datetime

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_notifier.delivery import Verdict, backoff_delay, classify, cloudevent_headers, notification
from aduan_notifier.targets import check_template, recipient, webhook_url
from aduan_schemas.city import SkpdRegistry, load_city
from aduan_schemas.events import SlaEvent

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def breach(escalate_to: str | None) -> SlaEvent:
    return SlaEvent(
        report_id="rpt-1", kind="respond_breached", policy="standard", due_at=NOW, detected_at=NOW,
        skpd_code="kel-3171011001", escalate_to=escalate_to,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (500, Verdict.RETRY), (503, Verdict.RETRY),
     (408, Verdict.RETRY), (429, Verdict.RETRY), (400, Verdict.FAILED), (404, Verdict.FAILED),
     (301, Verdict.FAILED)],
)  # fmt: skip
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_backoff_is_exponential_and_bounded() -> None:
    assert [backoff_delay(a, 0.5, 4.0) for a in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff_delay(1, 0.5, 4.0, retry_after="2") == 2.0
    assert backoff_delay(1, 0.5, 4.0, retry_after="3600") == 4.0  # a receiver cannot stall us longer
    assert backoff_delay(1, 0.5, 4.0, retry_after="Mon, 02 Nov 2026 08:00:03 GMT", now=NOW) == 3.0
    assert backoff_delay(1, 0.5, 4.0, retry_after="soon") == 0.5


def test_breach_goes_to_the_escalation_target_else_the_unit() -> None:
    assert recipient(breach("kec-317101")) == "kec-317101"
    assert recipient(breach(None)) == "kel-3171011001"


def test_url_from_template_else_registry_else_none() -> None:
    registry = SkpdRegistry.model_validate({
        "version": "1",
        "units": [
            {"code": "dbm", "name": "Dinas Bina Marga", "level": "dinas",
             "contact": {"webhook_url": "https://dbm.example/aduan"}},
            {"code": "dlh", "name": "Dinas Lingkungan Hidup", "level": "dinas"},
        ],
    })  # fmt: skip
    assert webhook_url("dbm", "http://gw/skpd/{skpd_code}", registry) == "http://gw/skpd/dbm"
    assert webhook_url("dbm", None, registry) == "https://dbm.example/aduan"
    assert webhook_url("dlh", None, registry) is None
    assert webhook_url("unknown", None, registry) is None


def test_template_is_checked() -> None:
    check_template("http://127.0.0.1:9000/skpd/{skpd_code}")
    with pytest.raises(ValueError, match="only use"):
        check_template("http://gw/{unit}")
    with pytest.raises(ValueError, match="http"):
        check_template("ftp://gw/{skpd_code}")


def test_cloudevent_headers_and_notification_ids() -> None:
    ev = breach("kec-317101")
    h = cloudevent_headers(ev, "/aduan/sla-monitor", NOW)
    assert h["ce-id"] == "sla:rpt-1:respond_breached" and h["ce-type"] == SlaEvent.EVENT_TYPE
    assert h["ce-subject"] == "rpt-1" and h["ce-specversion"] == "1.0"
    n = notification(ev, "kec-317101", "delivered", 1, NOW)
    assert n.notification_id == "notify:sla:rpt-1:respond_breached|kec-317101:delivered"
    assert n.event_id() == notification(ev, "kec-317101", "delivered", 2, NOW).event_id()
    assert n.about == SlaEvent.EVENT_TYPE and n.report_id == "rpt-1"


def test_the_real_registry_loads() -> None:
    assert load_city(CITY_DIR).skpd.get("kec-317101").parent == "kota-3171"
