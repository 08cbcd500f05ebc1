"""Working-hours calendars: the Jakarta office calendar with its holiday file, and the arithmetic."""

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_schemas.city import CityConfig, Holiday, WorkCalendar, WorkingHours, load_city
from aduan_sla import add_time, deadlines, policy_for

WIB = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=WIB)  # type: ignore[misc]


def test_friday_evening_report_before_a_holiday_monday(city: CityConfig) -> None:
    """Friday 14 Aug 2026 18:00 WIB; Monday 17 Aug is Independence Day, Tuesday 25 Aug Maulid Nabi.
    Respond (6 working hours): Tuesday 18 Aug 14:00. Resolve (7 working days): from Tuesday 08:00,
    skipping the weekend and 25 Aug, Friday 28 Aug 08:00. Fails if the holidays file is not read
    (respond would be Monday 14:00) or if whole days counted calendar days."""
    p = policy_for(city.sla, "kependudukan", "dukcapil", city.skpd)
    assert p.name == "layanan-kantor"
    d = deadlines(p, wib(2026, 8, 14, 18, 0))
    assert d.respond_by == wib(2026, 8, 18, 14, 0)
    assert d.resolve_by == wib(2026, 8, 28, 8, 0)
    assert d.respond_by.tzinfo == UTC


def test_friday_afternoon_carries_the_rest_of_the_hours_over(city: CityConfig) -> None:
    p = policy_for(city.sla, "perizinan", "dpmptsp", city.skpd)
    # 2 working hours on Friday, then Tuesday from 08:00 for the other 4.
    assert deadlines(p, wib(2026, 8, 14, 14, 0)).respond_by == wib(2026, 8, 18, 12, 0)


def test_cuti_bersama_counts_as_a_holiday(city: CityConfig) -> None:
    cal = city.sla.calendars["hari-kerja"]
    assert date(2026, 12, 24) in cal.holiday_dates  # cuti bersama Natal
    # Wednesday 23 Dec 2026 15:00: 1 hour left that day; 24 and 25 Dec off, then the weekend.
    assert add_time(cal, wib(2026, 12, 23, 15, 0), timedelta(hours=2)) == wib(2026, 12, 28, 9, 0)


def test_holiday_file_covers_2026_and_2027(city: CityConfig) -> None:
    years = {h.date.year for h in city.sla.calendars["hari-kerja"].holidays}
    assert {2026, 2027} <= years


CAL = WorkCalendar(
    utc_offset=timedelta(hours=7),
    weekdays=[1, 2, 3, 4, 5],
    hours=WorkingHours(start=time(8), end=time(16)),
    holidays=[Holiday(date=date(2026, 11, 4), name="test")],
)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (wib(2026, 11, 2, 9, 0), timedelta(hours=6), wib(2026, 11, 2, 15, 0)),  # inside one day
        (wib(2026, 11, 2, 9, 0), timedelta(hours=7), wib(2026, 11, 2, 16, 0)),  # exactly at closing
        (wib(2026, 11, 2, 16, 0), timedelta(hours=1), wib(2026, 11, 3, 9, 0)),  # at closing: next day
        (wib(2026, 11, 2, 6, 0), timedelta(hours=1), wib(2026, 11, 2, 9, 0)),  # before opening
        (wib(2026, 11, 3, 15, 0), timedelta(hours=2), wib(2026, 11, 5, 9, 0)),  # over a holiday
        (
            wib(2026, 11, 7, 10, 0),
            timedelta(days=1),
            wib(2026, 11, 10, 8, 0),
        ),  # Saturday: Monday 08:00 + 1 day
        (wib(2026, 11, 3, 10, 0), timedelta(days=1, hours=7), wib(2026, 11, 6, 9, 0)),
    ],
)
def test_add_time(start: datetime, duration: timedelta, expected: datetime) -> None:
    assert add_time(CAL, start, duration) == expected


def test_without_a_calendar_the_clock_never_stops() -> None:
    start = wib(2026, 11, 7, 23, 0)
    assert add_time(None, start, timedelta(days=7)) == start + timedelta(days=7)


def test_a_calendar_without_working_time_fails_instead_of_looping() -> None:
    holidays = [Holiday(date=date(2026, 1, 1) + timedelta(days=i), name="x") for i in range(4_000)]
    closed = WorkCalendar(**{**CAL.model_dump(), "holidays": holidays})
    with pytest.raises(ValueError, match="no working"):
        add_time(closed, wib(2026, 1, 1, 9, 0), timedelta(hours=1))
