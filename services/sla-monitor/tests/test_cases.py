from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from aduan_schemas.city import CityConfig
from aduan_schemas.events import ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor.cases import InvalidStatus, case_fields, public_view, status_change

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
    change = status_change(update(status), city.skpd)
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
