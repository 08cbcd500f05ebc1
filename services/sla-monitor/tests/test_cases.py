from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from aduan_schemas.city import CityConfig
from aduan_schemas.events import ReasonCode, ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor.cases import (
    REROUTING,
    InvalidStatus,
    case_fields,
    masked_note,
    public_view,
    status_change,
)
from aduan_sla_monitor.public_case import official_handles
from aduan_sla_monitor.reopen import follow_up

MakeRouted = Callable[..., RoutedReport]
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def update(status: ReportStatus, **kw: object) -> StatusUpdate:
    return StatusUpdate(report_id="rpt-1", status=status, at=T0, by="petugas", **kw)  # type: ignore[arg-type]


def test_case_fields_copy_the_report_and_lift_the_deadlines(make_routed: MakeRouted) -> None:
    r = make_routed(received_at=T0)
    fields = case_fields(r)
    assert fields["respond_by"] == T0 + timedelta(hours=6)
    assert fields["resolve_by"] == T0 + timedelta(days=7)
    assert fields["received_at"] == T0 and fields["category"] == r.category
    assert not {"report_id", "skpd_code", "skpd_name", "raw"} & fields.keys()


def test_a_note_keeps_no_contact_but_the_citys_accounts(city: CityConfig) -> None:
    """Checked to fail: with ``masked_note`` returning the update as given, the stored entry kept the
    number and the address."""
    typed = "Warga dihubungi di +62 812-3456-7890 / budi.s@gmail.com, info juga ke @PAMJaya"
    change = status_change(
        masked_note(update(ReportStatus.IN_PROGRESS, note=typed), official_handles(city)), city.skpd
    )
    assert change.entry["note"] == "Warga dihubungi di [TELEPON] / [EMAIL], info juga ke @PAMJaya"
    plain = update(ReportStatus.RECEIVED, note="Truk dijadwalkan")
    assert masked_note(plain, ()) is plain and masked_note(update(ReportStatus.RECEIVED), ()).note is None


@pytest.mark.parametrize(
    ("status", "responds", "closes"),
    [
        (ReportStatus.RECEIVED, True, False),
        (ReportStatus.IN_PROGRESS, True, False),
        (ReportStatus.RESOLVED, True, True),
        (ReportStatus.REJECTED, True, True),
    ],
)
def test_which_statuses_answer_and_close(
    city: CityConfig, status: ReportStatus, responds: bool, closes: bool
) -> None:
    evidence = ["https://example.org/after.jpg"] if status is ReportStatus.RESOLVED else []
    change = status_change(update(status, evidence=evidence), city.skpd)
    assert (change.responded_at is not None, change.closed_at is not None) == (responds, closes)
    assert change.reassign_to is None and change.entry["status"] == status.value


def test_reassignment_names_the_new_unit_and_answers_nothing(city: CityConfig) -> None:
    change = status_change(update(ReportStatus.REASSIGNED, reassign_to="dbm"), city.skpd)
    assert (change.reassign_to, change.reassign_name) == ("dbm", "Dinas Bina Marga")
    assert change.responded_at is None and change.closed_at is None


def test_reassignment_needs_a_known_unit(city: CityConfig) -> None:
    with pytest.raises(InvalidStatus, match="needs reassign_to"):
        status_change(update(ReportStatus.REASSIGNED), city.skpd)
    with pytest.raises(InvalidStatus, match="not in the SKPD registry"):
        status_change(update(ReportStatus.REASSIGNED, reassign_to="nope"), city.skpd)


def test_public_view_is_json() -> None:
    view = public_view({"_id": "rpt-1", "respond_by": T0, "history": [{"at": T0}], "breaches": {"x": T0}})
    assert view == {
        "report_id": "rpt-1",
        "respond_by": T0.isoformat(),
        "history": [{"at": T0.isoformat()}],
        "breaches": {"x": T0.isoformat()},
    }


def test_resolved_needs_a_photo_url(city: CityConfig) -> None:
    """Fails if the evidence rule in ``cases.check_update`` is removed (checked: both raises vanish)."""
    with pytest.raises(InvalidStatus, match="needs evidence"):
        status_change(update(ReportStatus.RESOLVED, note="sudah"), city.skpd)
    with pytest.raises(InvalidStatus, match="needs evidence"):
        status_change(update(ReportStatus.RESOLVED, evidence=["ftp://x/y.jpg"]), city.skpd)
    ok = status_change(update(ReportStatus.RESOLVED, evidence=["https://x.org/a.jpg"]), city.skpd)
    assert ok.closed_at == T0


def test_not_ours_neither_answers_nor_closes_and_asks_for_rerouting(city: CityConfig) -> None:
    """Fails if a not-ours rejection sets ``responded_at``/``closed_at`` (checked by dropping the
    ``not not_ours`` guards in ``status_change``)."""
    change = status_change(
        update(ReportStatus.REJECTED, reason_code=ReasonCode.NOT_OUR_AUTHORITY, skpd_code="dbm"), city.skpd
    )
    assert change.responded_at is None and change.closed_at is None
    assert change.reroute and change.not_ours and change.status == REROUTING and change.sender == "dbm"
    plain = status_change(update(ReportStatus.REJECTED), city.skpd)
    assert plain.closed_at == T0 and not plain.reroute
    with pytest.raises(InvalidStatus, match="goes with status 'rejected'"):
        status_change(update(ReportStatus.IN_PROGRESS, reason_code=ReasonCode.NOT_OUR_AUTHORITY), city.skpd)


def test_follow_up_of_a_resolved_case_reopens_it_with_a_new_resolve_clock(
    city: CityConfig, make_routed: MakeRouted
) -> None:
    later = T0 + timedelta(days=10)
    reply = make_routed(received_at=later, follow_up_of="rpt-1")
    resolved = {
        "_id": "rpt-1",
        "status": "resolved",
        "closed_at": T0 + timedelta(days=2),
        "sla": {"policy": "standard"},
        "skpd_code": "dbm",
    }
    f = follow_up(reply, resolved, city.sla)
    assert f is not None and f.earlier_id == "rpt-1" and f.reopen is not None
    assert f.reopen.status is ReportStatus.REOPENED and f.reopen.at == later
    assert f.reopen.resolve_by == later + timedelta(days=7) and f.reopen.follow_up_id == reply.report_id
    status_change(f.reopen, city.skpd)  # valid on the status path
    # An open case is only linked; an unknown one leaves the follow-up a case of its own.
    linked = follow_up(reply, {**resolved, "status": "in_progress", "closed_at": None}, city.sla)
    assert linked is not None and linked.reopen is None
    assert follow_up(reply, None, city.sla) is None
    # Resolved after the follow-up was written: linked, not reopened.
    after = follow_up(reply, {**resolved, "closed_at": later + timedelta(hours=1)}, city.sla)
    assert after is not None and after.reopen is None
