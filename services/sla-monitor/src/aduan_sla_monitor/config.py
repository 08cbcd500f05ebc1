from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.settings import ServiceSettings


class SlaMonitorSettings(ServiceSettings):
    """Env prefix ``ADUAN_SLA_MONITOR_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_SLA_MONITOR_", extra="ignore")

    port: int = 8113
    scan_interval_s: float = Field(default=5.0, gt=0, description="Seconds between deadline scans")
    scan_batch: int = Field(default=500, ge=1, le=10_000, description="Cases per page of the deadline scan")
    open_count_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between counts of open cases (aduan_cases_open)"
    )
    claim_lease_s: float = Field(
        default=120.0,
        gt=0,
        le=3_600,
        description="Seconds the scanner lease lasts (renewed every page); a replica that dies leaves "
        "the scan to another after this",
    )
    scanner_enabled: bool = Field(default=True, description="Run the deadline scanner in this replica")
    clock_offset_s: float = Field(
        default=0.0,
        description="Seconds added to the monitor's clock (deadline scans, detection and update times): "
        "0 in production; a drill or test moves it to jump across a deadline",
    )
    history_limit: int = Field(default=50, ge=1, le=1_000, description="Status updates kept per case")
    public_timezone: str = Field(
        default="Asia/Jakarta", description="IANA time zone of the dates the public API and status page show"
    )

    def now(self) -> datetime:
        """The monitor's "now": the one clock of its deadline decisions."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    @field_validator("public_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v

    unit_keys_file: Path | None = Field(
        default=None,
        description="Keys file of the status API (one '<skpd_code> <sha256>' line per key); "
        "unset: the status API answers 503",
    )
    status_max_body_bytes: int = Field(default=65_536, ge=1_024, le=1_000_000)
    status_rate_per_minute: int = Field(
        default=600, ge=1, description="Status API requests per unit and minute (429 beyond)"
    )
    status_publish_timeout_s: float = Field(default=10.0, gt=0, le=120)
