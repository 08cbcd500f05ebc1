from pydantic import Field
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
    history_limit: int = Field(default=50, ge=1, le=1_000, description="Status updates kept per case")
