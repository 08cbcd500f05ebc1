"""The router against the real broker: one report in, two records out; bad input dead-lettered."""

import json

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, publish_bytes, read_topic
from aduan_kit.testing.samples import normalized
from aduan_router.config import RouterSettings
from aduan_router.main import build
from aduan_schemas.events import DeadLetter, RoutedReport


async def test_routes_to_routed_and_skpd_topics_and_dead_letters_bad_input(common: CommonSettings) -> None:
    await create_topics(common, ["satpolpp-3171"])
    t = common.topics
    report = normalized(category="pkl")
    await publish_bytes(common, t.normalized, b"{not json", key=b"bad")
    await publish_bytes(
        common, t.normalized, report.model_dump_json().encode(), key=report.report_id.encode()
    )

    async with running(build(RouterSettings(common=common))) as client:
        routed = await read_topic(common, t.routed, 1)
        skpd = await read_topic(common, t.skpd("satpolpp-3171"), 1)
        dlq = await read_topic(common, t.dlq, 1)
        ready = await client.get("/readyz")
        metrics_text = (await client.get("/metrics")).text

    out = RoutedReport.model_validate_json(routed[0].value)
    assert out.report_id == report.report_id and out.skpd_code == "satpolpp-3171"
    assert routed[0].key == report.report_id.encode()
    headers = dict(routed[0].headers)
    assert headers["ce_type"] == b"aduan.report.routed.v1"
    assert headers["ce_specversion"] == b"1.0"
    assert RoutedReport.model_validate_json(skpd[0].value).report_id == report.report_id

    letter = DeadLetter.model_validate_json(dlq[0].value)
    assert letter.original_topic == t.normalized and letter.stage == "parse"
    assert letter.payload == "{not json"
    dh = dict(dlq[0].headers)
    assert dh["aduan_dlq_topic"] == t.normalized.encode()
    assert dh["aduan_dlq_stage"] == b"parse"
    assert int(dh["aduan_dlq_offset"]) == letter.offset
    assert "json" in dh["aduan_dlq_error"].decode().lower()

    assert ready.status_code == 200, json.dumps(ready.json())
    assert "aduan_reports_routed_total" in metrics_text
