"""What the notifier remembers of each routed report, against the real database."""

from datetime import UTC, datetime, timedelta

from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_notifier.links import CaseLink, CaseLinks
from aduan_schemas.events import DuplicateAction, DuplicateDecision


async def test_record_many_returns_only_what_it_stored_as_given(common: CommonSettings) -> None:
    """The notifier takes the links ``record_many`` returns as stored and reads the others back. A
    report split off by an operator and then re-delivered, still linked to the first case, must not be
    returned (its stored link is the operator's). Checked to fail: with ``record_many`` returning every
    link of the batch, the re-delivered one was returned too (as routed, linked to ``r-first``)."""
    client = mongo_client(common)
    try:
        links = CaseLinks(client[common.mongodb_db])
        await links.ensure_indexes(3_600)
        now = datetime.now(UTC)
        first = CaseLink("r-first", "dlh-3171", "Suku Dinas LH Jakarta Pusat", "p-1")
        dup = CaseLink("r-dup", "dlh-3171", "Suku Dinas LH Jakarta Pusat", "p-2", duplicate_of="r-first")
        assert await links.record_many([first, dup], now) == {"r-first": first, "r-dup": dup}
        split = DuplicateDecision(
            report_id="r-dup", action=DuplicateAction.SPLIT, into=None, at=now, by="operator-1"
        )
        await links.apply_decisions([split], now)
        fresh = CaseLink("r-new", "dbm-3171", "Suku Dinas BM Jakarta Pusat", "p-3")
        later = now + timedelta(minutes=1)
        assert await links.record_many([dup, fresh], later) == {"r-new": fresh}
        stored = await links.get_many(["r-dup"])
        assert stored["r-dup"].duplicate_of is None
    finally:
        await client.close()
