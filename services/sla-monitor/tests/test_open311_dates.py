"""Open311 date filters at the edges of the calendar are refused with a reason, never an overflow."""

from datetime import UTC, datetime

import pytest

from aduan_sla_monitor.open311 import BadQuery, parse_query

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": ["9999-12-31T23:59:59Z"]},
        {"end_date": ["0001-01-01T00:00:00Z"]},
        {"start_date": ["0001-01-01T00:00:00+07:00"], "end_date": ["0001-01-02T00:00:00+07:00"]},
    ],
)
def test_far_past_and_future_dates_are_a_bad_query(params: dict[str, list[str]]) -> None:
    """Checked to fail: without the year bounds in ``_date``, ``start_date=9999-12-31…`` raised
    OverflowError (a 500 from ``GET /open311/v2/requests.json``, found by tests/test_hostile_input.py)."""
    with pytest.raises(BadQuery, match="between the years"):
        parse_query(params, NOW)
