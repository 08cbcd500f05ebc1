from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IngestSettings


class EmailSettings(IngestSettings):
    """Env prefix ``ADUAN_INGEST_EMAIL_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_INGEST_EMAIL_", extra="ignore")

    port: int = 8103
