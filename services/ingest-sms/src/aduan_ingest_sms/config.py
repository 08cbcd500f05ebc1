from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IngestSettings


class SmsSettings(IngestSettings):
    """Env prefix ``ADUAN_INGEST_SMS_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_INGEST_SMS_", extra="ignore")

    port: int = 8104
