"""The messages the notifier sends, from one file per city (``<city>/templates.yaml``).

Loaded and checked once at start-up: every message must exist and may use only its own placeholders,
so a typo fails the start, not the first notification. Rendering is pure.
"""

from __future__ import annotations

import string
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aduan_schemas import yamlfile

FILE = "templates.yaml"
CitizenKey = Literal["received", "forwarded", "in_progress", "resolved", "escalated", "reopened"]
UnitKey = Literal["routed", "warning", "breach", "reopened"]

CITIZEN_FIELDS = {"report_id", "unit", "evidence"}
UNIT_FIELDS: dict[str, set[str]] = {
    "routed": {"report_id", "unit", "category", "place", "respond_by", "resolve_by"},
    "warning": {"report_id", "unit", "deadline", "due_at"},
    "breach": {"report_id", "unit", "deadline", "due_at"},
    "reopened": {"report_id", "unit", "note"},
}
DIGEST_FIELDS = {"unit", "period", "count", "lines"}
LINE_FIELDS = {"report_id", "deadline", "due_at"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mail(_Strict):
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=5_000)


class Digest(Mail):
    line: str = Field(min_length=1, max_length=500)


class Templates(_Strict):
    version: str
    timezone: str = "UTC"
    timezone_label: str = "UTC"
    citizen: dict[CitizenKey, str]
    unit: dict[UnitKey, Mail]
    digest: Digest
    deadlines: dict[str, str]

    @model_validator(mode="after")
    def _complete_and_known_placeholders(self) -> Templates:
        for key in CitizenKey.__args__:  # type: ignore[attr-defined]
            if key not in self.citizen:
                raise ValueError(f"citizen.{key} is missing")
            _only(f"citizen.{key}", self.citizen[key], CITIZEN_FIELDS)
        for key in UnitKey.__args__:  # type: ignore[attr-defined]
            if key not in self.unit:
                raise ValueError(f"unit.{key} is missing")
            mail = self.unit[key]
            _only(f"unit.{key}.subject", mail.subject, UNIT_FIELDS[key])
            _only(f"unit.{key}.body", mail.body, UNIT_FIELDS[key])
        _only("digest.subject", self.digest.subject, DIGEST_FIELDS)
        _only("digest.body", self.digest.body, DIGEST_FIELDS)
        _only("digest.line", self.digest.line, LINE_FIELDS)
        ZoneInfo(self.timezone)  # an unknown zone fails here
        return self

    def citizen_text(self, key: CitizenKey, **values: str) -> str:
        return self.citizen[key].format_map(values)

    def unit_mail(self, key: UnitKey, **values: str) -> tuple[str, str]:
        mail = self.unit[key]
        return mail.subject.format_map(values), mail.body.format_map(values)

    def digest_mail(self, unit: str, period: datetime, items: list[dict[str, str]]) -> tuple[str, str]:
        lines = "\n".join(self.digest.line.format_map(i) for i in items)
        values = {"unit": unit, "period": self.when(period), "count": str(len(items)), "lines": lines}
        return self.digest.subject.format_map(values), self.digest.body.format_map(values)

    def deadline(self, kind: str) -> str:
        return self.deadlines.get(kind, kind)

    def when(self, at: datetime) -> str:
        """A time as citizens and officials read it: local, to the minute, with the zone's name."""
        return f"{at.astimezone(ZoneInfo(self.timezone)):%d-%m-%Y %H:%M} {self.timezone_label}"


def _only(where: str, text: str, allowed: set[str]) -> None:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    unknown = used - allowed
    if unknown:
        raise ValueError(f"{where}: unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def load_templates(city_dir: str | Path) -> Templates:
    """Read ``<city_dir>/templates.yaml``; raise ``ValueError`` naming the file and the problem."""
    path = Path(city_dir) / FILE
    try:
        data = yamlfile.safe_load(path.read_text(encoding="utf-8"))
        return Templates.model_validate(data)
    except FileNotFoundError:
        raise ValueError(f"{path}: missing (the notifier's messages)") from None
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ValueError(f"{path}: {problems}") from None
