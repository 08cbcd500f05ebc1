"""Time arithmetic on a working calendar: ``add_time(calendar, start, duration)``.

Without a calendar the clock never stops: ``start + duration``. With one (``WorkCalendar``: a UTC
offset, working weekdays, daily working hours, holidays), the clock runs only inside working hours of
working days, in the calendar's local time:

1. the start is moved to the next moment the clock runs (itself if inside working hours; a moment at
   the end of the day's hours counts as outside);
2. the duration's whole days count working days: the same local time of day, that many working days
   later (so "P7D" is seven working days, whatever weekends and holidays fall in between);
3. the rest counts working hours, continuing into the next working days when a day's hours run out
   (so "PT6H" is six working hours).

A calendar with no working day ahead (every day a holiday for ``MAX_DAYS``) raises ``ValueError``
rather than loop.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from aduan_schemas.city import WorkCalendar

MAX_DAYS = 3_660  # ten years of days searched for working time before giving up


def _working_day(cal: WorkCalendar, day: date) -> bool:
    return day.isoweekday() in cal.weekdays and day not in cal.holiday_dates


def _window(cal: WorkCalendar, day: date, tz: timezone) -> tuple[datetime, datetime]:
    return datetime.combine(day, cal.hours.start, tz), datetime.combine(day, cal.hours.end, tz)


def _snap(cal: WorkCalendar, at: datetime, tz: timezone) -> datetime:
    """The first moment at or after ``at`` when the clock runs."""
    day = at.date()
    for _ in range(MAX_DAYS):
        if _working_day(cal, day):
            opens, closes = _window(cal, day, tz)
            if at < closes:
                return max(at, opens)
        day += timedelta(days=1)
    raise ValueError("calendar has no working time ahead")


def _next_working_day(cal: WorkCalendar, day: date) -> date:
    for _ in range(MAX_DAYS):
        day += timedelta(days=1)
        if _working_day(cal, day):
            return day
    raise ValueError("calendar has no working day ahead")


def add_time(cal: WorkCalendar | None, start: datetime, duration: timedelta) -> datetime:
    """``start`` plus ``duration`` of the calendar's running time (see the module docstring); UTC."""
    if cal is None:
        return start + duration
    tz = timezone(cal.utc_offset)
    cursor = _snap(cal, start.astimezone(tz), tz)
    for _ in range(duration.days):
        cursor = datetime.combine(_next_working_day(cal, cursor.date()), cursor.timetz())
    rest = timedelta(seconds=duration.seconds, microseconds=duration.microseconds)
    for _ in range(MAX_DAYS):
        _, closes = _window(cal, cursor.date(), tz)
        if cursor + rest <= closes:
            return (cursor + rest).astimezone(UTC)
        rest -= closes - cursor
        cursor = _snap(cal, closes, tz)
    raise ValueError("calendar has no working time ahead")
