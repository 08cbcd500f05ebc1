from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IngestSettings


class TwitterSettings(IngestSettings):
    """Env prefix ``ADUAN_INGEST_TWITTER_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_INGEST_TWITTER_", extra="ignore")

    port: int = 8102
