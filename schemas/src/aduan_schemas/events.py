"""Pydantic v2 models of every event on Aduan's topics.

Field names are a contract read by SKPD integrators (DESIGN.md §3): add fields, never rename or remove.
Consumers ignore unknown fields (``extra="ignore"``) so producers can add fields without breaking them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

SCHEMA_VERSION = "1"

# Size limits: every input is bounded so one hostile message cannot exhaust a consumer.
MAX_TEXT = 10_000
MAX_SHORT = 500
MAX_ID = 200
MAX_URL = 2_048
MAX_ATTACHMENTS = 20

ShortText = Annotated[str, Field(max_length=MAX_SHORT)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL)]
ReportId = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class Event(BaseModel):
    """Base of every Kafka value. ``EVENT_TYPE`` is its CloudEvents ``type``."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    EVENT_TYPE: ClassVar[str] = ""

    def event_id(self) -> str:
        """A deterministic CloudEvents id, so a re-delivered event can be recognised downstream."""
        raise NotImplementedError

    def subject(self) -> str | None:
        """CloudEvents ``subject``: the report this event is about."""
        return getattr(self, "report_id", None)


class Part(BaseModel):
    """Base of nested parts of events."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class GeoPoint(Part):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Reporter(Part):
    """Who reported. On raw topics it holds the contact on that channel (PII); from the normalizer on,
    only ``pseudonym`` (a keyed hash) is set, so the contact never leaves the raw topic and case store."""

    name: ShortText | None = None
    handle: ShortText | None = None
    email: ShortText | None = None
    phone: ShortText | None = None
    pseudonym: ShortText | None = None


class Attachment(Part):
    url: Url
    media_type: ShortText | None = None


LocationFlag = Literal["zero", "outside_city"]


class RawReport(Event):
    """A report as the channel gave it (``aduan.raw.<channel>``); key = ``channel_message_id``."""

    EVENT_TYPE: ClassVar[str] = "aduan.report.raw.v1"

    channel: ShortText
    channel_message_id: Annotated[str, Field(min_length=1, max_length=MAX_ID)]
    received_at: AwareDatetime
    text: Annotated[str, Field(max_length=MAX_TEXT)] = ""
    category_hint: ShortText | None = Field(
        default=None, description="The channel's own category label, verbatim"
    )
    location: GeoPoint | None = None
    address_text: ShortText | None = None
    reporter: Reporter | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    raw: dict[str, Any] | None = Field(default=None, description="The original channel payload")
    follow_up_of: ReportId | None = Field(
        default=None,
        description="The report this message follows up (e.g. a citizen's reply to one of our notifications)",
    )
    location_flag: LocationFlag | None = Field(
        default=None,
        description="Set when the channel's coordinates are kept but cannot be trusted: zero (0,0: "
        "no GPS fix) or outside_city (outside the city's bounding box or boundaries)",
    )

    def event_id(self) -> str:
        return f"raw:{self.channel}:{self.channel_message_id}"

    def subject(self) -> str | None:
        return self.channel_message_id


class RawQlue(RawReport):
    channel: Literal["qlue"] = "qlue"


class RawTwitter(RawReport):
    channel: Literal["twitter"] = "twitter"


class RawEmail(RawReport):
    channel: Literal["email"] = "email"
    subject_line: ShortText | None = None


class RawSms(RawReport):
    """An inbound SMS (reassembled when it came in parts); ``reporter.phone`` is the sender (E.164)."""

    channel: Literal["sms"] = "sms"
    to_number: ShortText | None = Field(default=None, description="The city's number the SMS was sent to")
    parts: int = Field(default=1, ge=1, le=255, description="Parts of a concatenated SMS that arrived")
    parts_expected: int = Field(default=1, ge=1, le=255, description="Parts the message announced")


class RawOpen311(RawReport):
    """A GeoReport v2 service request (web forms, walk-in desks, third-party apps)."""

    channel: Literal["open311"] = "open311"
    service_code: ShortText = Field(description="The Open311 service code (a category of categories.yaml)")
    client: ShortText | None = Field(default=None, description="Name of the API key's client application")


RawChannels = RawQlue | RawTwitter | RawEmail | RawSms | RawOpen311
RawEvent = Annotated[RawChannels, Field(discriminator="channel")]
raw_report_adapter: TypeAdapter[RawChannels] = TypeAdapter(RawEvent)


class Area(Part):
    kelurahan_code: ShortText
    kelurahan: ShortText
    kecamatan: ShortText
    kota: ShortText


class Place(Part):
    """The most specific administrative area a report is known to be in: a kelurahan, or only its
    kecamatan or kota when the words name no more (codes are Kemendagri codes, as in the SKPD registry's
    ``area_code``). At kelurahan level it repeats ``area``, which stays the kelurahan-only contract."""

    level: Literal["kelurahan", "kecamatan", "kota"]
    kota_code: ShortText
    kota: ShortText
    kecamatan_code: ShortText | None = None
    kecamatan: ShortText | None = None
    kelurahan_code: ShortText | None = None
    kelurahan: ShortText | None = None


class Geocode(Part):
    method: Literal["gps", "text", "none"]
    confidence: float = Field(ge=0, le=1)


class NormalizedReport(RawReport):
    """A cleaned, classified, geocoded report (``aduan.reports.normalized``); key = ``report_id``."""

    EVENT_TYPE: ClassVar[str] = "aduan.report.normalized.v1"

    report_id: ReportId
    category: ShortText
    category_confidence: float = Field(ge=0, le=1)
    category_runner_up: ShortText | None = Field(
        default=None, description="The second-best category code, if the text or label suggested one"
    )
    category_runner_up_confidence: float = Field(default=0.0, ge=0, le=1)
    area: Area | None = None
    place: Place | None = Field(
        default=None,
        description="Most specific known area (kelurahan, kecamatan or kota); set whenever anything is known",
    )
    geocode: Geocode
    duplicate_of: ReportId | None = None
    normalized_at: AwareDatetime | None = None

    def event_id(self) -> str:
        return f"normalized:{self.report_id}"

    def subject(self) -> str | None:
        return self.report_id


class Routing(Part):
    rule: ShortText
    version: ShortText
    reason: ShortText
    confidence: float = Field(
        default=1.0, ge=0, le=1, description="How sure the router is of this unit (0-1)"
    )
    runner_up: ShortText | None = Field(
        default=None, description="SKPD code of the second-best candidate unit, if any"
    )


class SlaDeadlines(Part):
    policy: ShortText
    respond_by: AwareDatetime
    resolve_by: AwareDatetime


class RoutedReport(NormalizedReport):
    """A report assigned to one SKPD (``aduan.reports.routed`` and ``aduan.skpd.<code>``)."""

    EVENT_TYPE: ClassVar[str] = "aduan.report.routed.v1"

    skpd_code: ShortText
    skpd_name: ShortText
    routing: Routing
    sla: SlaDeadlines
    needs_triage: bool = Field(
        default=False,
        description="Too unsure to send to a unit: held on aduan.reports.triage for an operator; "
        "skpd_code names the best candidate",
    )
    routed_at: AwareDatetime | None = None
    rerouted_at: AwareDatetime | None = Field(
        default=None,
        description="Set when the report was routed again after a refusal or re-categorisation: the "
        "time of that request",
    )
    rerouted_from: ShortText | None = Field(
        default=None,
        description="Set with rerouted_at: the unit that held the report when it was sent back for routing",
    )

    def event_id(self) -> str:
        # A report held for triage is not yet any unit's: its id must differ from the event that later
        # assigns it (possibly to the same candidate unit), or consumers deduplicating by id would drop it.
        # A re-routed report is a new event too (it may go back to triage, or to a unit again).
        again = f":{self.rerouted_at.isoformat()}" if self.rerouted_at is not None else ""
        if self.needs_triage:
            return f"routed:{self.report_id}:triage{again}"
        return f"routed:{self.report_id}:{self.skpd_code}{again}"


class ReportStatus(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"
    # Published by the SLA monitor only: a citizen's follow-up reopened a resolved case.
    REOPENED = "reopened"


class ReasonCode(StrEnum):
    """Why a unit answered as it did, when the answer changes where the report goes."""

    # ``rejected`` with this reason does not close the case: the report goes to the next candidate unit.
    NOT_OUR_AUTHORITY = "not_our_authority"
    # ``reassigned`` with this reason and a ``category``: an operator re-categorised the report and the
    # router's rules pick the unit for the new category.
    RECATEGORISED = "recategorised"


class StatusUpdate(Event):
    """An SKPD system's word on a report (``aduan.reports.status``); key = ``report_id``."""

    EVENT_TYPE: ClassVar[str] = "aduan.report.status.v1"

    report_id: ReportId
    status: ReportStatus
    at: AwareDatetime
    by: ShortText
    note: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    evidence: list[Url] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    reassign_to: ShortText | None = Field(default=None, description="SKPD code, when status is reassigned")
    reason_code: ReasonCode | None = Field(
        default=None, description="Structured reason: not_our_authority (with rejected), recategorised"
    )
    skpd_code: ShortText | None = Field(
        default=None,
        description="The unit that sent the update (set by the status API from the unit's key)",
    )
    category: ShortText | None = Field(
        default=None, description="The new category code, when reason_code is recategorised"
    )
    resolve_by: AwareDatetime | None = Field(
        default=None, description="The new resolve deadline, when status is reopened"
    )
    follow_up_id: ReportId | None = Field(
        default=None, description="The citizen's follow-up report that reopened the case (status reopened)"
    )

    def event_id(self) -> str:
        return f"status:{self.report_id}:{self.status.value}:{self.at.isoformat()}"


class DuplicateAction(StrEnum):
    SPLIT = "split"  # the report leaves the case it was linked to and becomes its own case
    MERGE = "merge"  # the report's case joins the case named by ``into``


class DuplicateDecision(Event):
    """An operator's correction of near-duplicate linking (``aduan.reports.duplicates``); key =
    ``report_id``."""

    EVENT_TYPE: ClassVar[str] = "aduan.report.duplicate-decision.v1"

    report_id: ReportId = Field(description="The report split off, or merged into another case")
    action: DuplicateAction
    into: ReportId | None = Field(default=None, description="merge: the case (its first report id) to join")
    at: AwareDatetime
    by: ShortText
    note: ShortText | None = None

    @model_validator(mode="after")
    def _merge_names_another_case(self) -> DuplicateDecision:
        if self.action == DuplicateAction.MERGE and (self.into is None or self.into == self.report_id):
            raise ValueError("merge needs 'into': the id of another case")
        return self

    def event_id(self) -> str:
        return f"duplicate:{self.report_id}:{self.action.value}:{self.at.isoformat()}"

    def subject(self) -> str | None:
        return self.report_id


class RerouteRequest(RoutedReport):
    """A report to route again, excluding units (``aduan.reports.reroute``); key = ``report_id``.

    Published by the SLA monitor from its case when a unit answers "not our authority" or an operator
    re-categorises the report; the router picks the next candidate outside ``exclude_units`` and keeps
    ``sla`` (deadlines count from the citizen's report)."""

    EVENT_TYPE: ClassVar[str] = "aduan.report.reroute.v1"

    exclude_units: list[ShortText] = Field(
        default_factory=list, max_length=100, description="SKPD codes that refused the report"
    )
    requested_by: ShortText = Field(description="Who asked: the refusing unit or the operator")
    requested_at: AwareDatetime

    def event_id(self) -> str:
        return f"reroute:{self.report_id}:{self.requested_at.isoformat()}"


SlaKind = Literal[
    "respond_breached",
    "resolve_breached",
    "respond_warning",
    "resolve_warning",
    "respond_escalated",
    "resolve_escalated",
]


class SlaEvent(Event):
    """A deadline event (``aduan.sla.events``); key = ``report_id``.

    Kinds: ``*_warning`` when a configured fraction of a clock has run; ``*_breached`` when the deadline
    passed unanswered (ladder step 1); ``*_escalated`` for each later ladder step (``step`` 2, 3, ...).
    At most one per report, kind, step and clock round."""

    EVENT_TYPE: ClassVar[str] = "aduan.sla.breached.v1"

    report_id: ReportId
    kind: SlaKind
    policy: ShortText
    due_at: AwareDatetime = Field(description="When it was due: the deadline, warning time or step time")
    detected_at: AwareDatetime
    skpd_code: ShortText
    escalate_to: ShortText | None = Field(
        default=None, description="SKPD code whose head this step addresses (None for a warning)"
    )
    step: int | None = Field(default=None, ge=1, description="Escalation ladder step (1 = the breach)")
    level: ShortText | None = Field(default=None, description="The official this step addresses, e.g. camat")
    deadline: AwareDatetime | None = Field(default=None, description="The clock's deadline")
    late_detected: bool = Field(
        default=False, description="Found from an answer's own time after the deadline, not by a scan in time"
    )
    round: int = Field(
        default=0, ge=0, description="Resolve clock round: 0 at first, +1 each time a reopen restarts it"
    )

    def event_id(self) -> str:
        base = f"sla:{self.report_id}:{self.kind}"
        if self.kind.endswith("_escalated"):
            base += f":{self.step}"
        return base if self.round == 0 else f"{base}:r{self.round}"


class Notification(Event):
    """What the notifier told whom (``aduan.notifications``); key = ``report_id``."""

    EVENT_TYPE: ClassVar[str] = "aduan.notification.v1"

    notification_id: ShortText
    report_id: ReportId
    about: ShortText = Field(description="CloudEvents type of the event that was notified")
    recipient: ShortText = Field(
        description="SKPD code (audience unit); the reporter's pseudonym, or 'reporter:<report_id>' when "
        "there is none (audience citizen): never a contact"
    )
    channel: Literal["webhook", "email", "twitter", "qlue", "sms", "none"] = Field(
        default="webhook", description="How it was sent; 'none' when no channel could be chosen (skipped)"
    )
    audience: Literal["unit", "citizen"] = Field(default="unit", description="Who was told")
    outcome: Literal["delivered", "skipped", "failed"]
    attempts: int = Field(ge=0)
    detail: ShortText | None = None
    at: AwareDatetime

    def event_id(self) -> str:
        return self.notification_id


class DeadLetter(Event):
    """A record no stage could handle (``aduan.dlq``); key = the original key."""

    EVENT_TYPE: ClassVar[str] = "aduan.dead_letter.v1"

    original_topic: ShortText
    partition: int
    offset: int
    key: Annotated[str, Field(max_length=MAX_ID * 2)] | None = None
    stage: ShortText
    error: Annotated[str, Field(max_length=2_000)]
    payload: str | None = Field(
        default=None,
        description="The original value as UTF-8 text (invalid bytes replaced, typed contacts masked); "
        "null for a record of a raw topic, which carries the reporter's contact: read it there by "
        "original_topic, partition and offset",
    )
    payload_encoding: Literal["utf-8", "base64"] = Field(
        default="utf-8", description="Always utf-8 now; base64 was written by earlier versions"
    )
    failed_at: datetime

    def event_id(self) -> str:
        return f"dlq:{self.original_topic}:{self.partition}:{self.offset}:{self.stage}"

    def subject(self) -> str | None:
        return self.key
