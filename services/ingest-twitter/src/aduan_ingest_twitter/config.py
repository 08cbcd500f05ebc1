from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IngestSettings


class TwitterSettings(IngestSettings):
    """Env prefix ``ADUAN_INGEST_TWITTER_``; shared settings come from ``ADUAN_*`` (see the kit).

    The X API is read only when ``api_url`` and ``bearer_token`` are both set; without them the service
    is the signed webhook. Backoff values follow X's reconnection guidance (``backoff.py``).
    """

    model_config = SettingsConfigDict(env_prefix="ADUAN_INGEST_TWITTER_", extra="ignore")

    port: int = 8102

    api_url: str | None = Field(default=None, description="X API base URL; unset: X is not read")
    bearer_token: SecretStr | None = Field(default=None, description="App-only bearer token of the X app")
    stream: bool = Field(default=True, description="Hold the filtered stream; off: poll mentions only")
    manage_rules: bool = Field(default=True, description="Set the stream's rules from twitter.yaml at start")
    stall_timeout_s: float = Field(default=30, gt=0, le=600)  # X sends a keep-alive every ~20 s
    poll_interval_s: float = Field(default=60, gt=0, le=3_600)
    poll_max_tweets: int = Field(default=800, ge=5, le=800)  # the mentions timeline holds 800 at most
    backfill_max: int = Field(default=100, ge=0, le=100)
    request_timeout_s: float = Field(default=30, gt=0, le=300)
    max_line_bytes: int = Field(default=1_000_000, ge=10_000)
    backoff_network_step_s: float = Field(default=0.25, gt=0)
    backoff_network_max_s: float = Field(default=16, gt=0)
    backoff_http_start_s: float = Field(default=5, gt=0)
    backoff_http_max_s: float = Field(default=320, gt=0)
    backoff_rate_limit_start_s: float = Field(default=60, gt=0)
