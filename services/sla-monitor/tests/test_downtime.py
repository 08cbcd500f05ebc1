"""The monitor is down while a case's deadline passes, then comes back: the breach is recorded once, at
the deadline's time.

The monitor's clock is ``SlaMonitorSettings.now`` (the wall clock plus ``clock_offset_s``): the run
after the downtime is started with its clock past the deadline, as if it had been away that long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, read_topic
from aduan_schemas.events import SlaEvent
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.main import build

from .test_service import MakeRouted, case_where, publish

UNIT = "kel-3171011001"


async def sla_events(common: CommonSettings, count: int) -> list[SlaEvent]:
    """The deadline events so far: waits for ``count``, then reads on 2 s for any extra one."""
    records = await read_topic(common, common.topics.sla_events, count, timeout=30, settle=2.0)
    return [SlaEvent.model_validate_json(r.value) for r in records]


async def test_a_deadline_that_passes_while_the_monitor_is_down_is_breached_once_at_its_time(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """Checked to fail: with the scanner's breach time taken from its clock instead of the alarm
    (``breaches = {a.key: now ...}`` in ``Scanner._page``), the recorded breach time was the return
    time, not the deadline: red. Exactly once rests on two guards, each enough alone: the case's sent
    alarms (``CaseClock.sent``) and its next alarm time (``next_alarm_at``). Breaking one of them
    (``record = {}`` in ``Scanner._page``; breaches kept pending in ``deadlines.plan``) stayed green;
    breaking both (``plan`` ignoring sent breaches and ``CaseStore.replan`` leaving ``next_alarm_at``
    where it was) sent the breach 19 more times: red."""
    await create_topics(common)
    report = make_routed(UNIT)
    deadline = report.sla.respond_by  # six working hours on (the policy's calendar)

    def at(moment: datetime) -> float:
        """The clock offset that makes the monitor's now ``moment``."""
        return (moment - datetime.now(UTC)).total_seconds()

    first = SlaMonitorSettings(common=common, scan_interval_s=0.1, clock_offset_s=at(deadline - _minutes(1)))
    async with running(build(first)) as client:
        await publish(common, common.topics.routed, report)
        await case_where(client, report.report_id, lambda c: "respond_by" in c)
        before = await sla_events(common, 1)  # the warning: the scanner saw the case in time
    assert [e.kind for e in before] == ["respond_warning"]
    assert first.now() < deadline  # down before the deadline...

    later = SlaMonitorSettings(  # ...and back two minutes after it
        common=common, scan_interval_s=0.1, clock_offset_s=at(deadline + _minutes(2))
    )
    async with running(build(later)) as client:
        case = await case_where(client, report.report_id, lambda c: "breaches" in c)
        events = await sla_events(common, 2)
    async with running(build(later)):  # and once more: nothing is announced twice
        again = await sla_events(common, 2)

    breach = events[1]
    assert (breach.report_id, breach.kind, breach.step) == (report.report_id, "respond_breached", 1)
    assert breach.due_at == deadline and breach.deadline == deadline
    assert breach.detected_at > deadline
    # Found by the scan on its return, not from an answer's own time (none came): not late-detected.
    assert breach.late_detected is False
    assert case["breaches"] == {"respond_breached": deadline.isoformat()}
    assert [e.kind for e in again] == ["respond_warning", "respond_breached"]


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
