"""The operator's near-duplicate corrections on the router's API, against the real broker: split and
merge are published as ``DuplicateDecision`` events; the token is required; a merge names another case.

Checked to fail: with ``authorize`` dropped from the endpoint, the 401 assertion went red; with the
decision sent to ``aduan.reports.status`` instead, no event was found on ``aduan.reports.duplicates``.
"""

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, find_events
from aduan_router.config import RouterSettings
from aduan_router.main import build
from aduan_schemas.events import DuplicateAction, DuplicateDecision

TOKEN = "test-operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_split_and_merge_are_published_as_events(common: CommonSettings) -> None:
    await create_topics(common)
    settings = RouterSettings(common=common, operator_token=TOKEN)
    async with running(build(settings)) as client:
        anonymous = await client.post("/v1/duplicates/rpt-b/split", json={"by": "op-1"})
        split = await client.post("/v1/duplicates/rpt-b/split", json={"by": "op-1"}, headers=AUTH)
        self_merge = await client.post("/v1/duplicates/rpt-c/merge", json={"by": "op-1"}, headers=AUTH)
        unknown = await client.post("/v1/duplicates/rpt-c/join", json={"by": "op-1"}, headers=AUTH)
        merge = await client.post(
            "/v1/duplicates/rpt-c/merge", json={"by": "op-1", "into": "rpt-a", "note": "sama"}, headers=AUTH
        )
        too_big = await client.post(
            "/v1/duplicates/rpt-c/split", content=b'{"by": "' + b"x" * 20_000 + b'"}', headers=AUTH
        )
        events = await find_events(
            common, common.topics.duplicates, DuplicateDecision, lambda e: True, count=2
        )

    assert anonymous.status_code == 401
    assert (split.status_code, merge.status_code) == (202, 202)
    assert self_merge.status_code == 422 and unknown.status_code == 422 and too_big.status_code == 413
    got = sorted((e.report_id, e.action, e.into, e.by) for e in events)
    assert got == [
        ("rpt-b", DuplicateAction.SPLIT, None, "op-1"),
        ("rpt-c", DuplicateAction.MERGE, "rpt-a", "op-1"),
    ]
