from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.settings import ServiceSettings
from aduan_normalizer.dedupe import DEDUPE_MEMORY
from aduan_normalizer.geocode import DEFAULT_SNAP_M
from aduan_normalizer.pseudonym import MIN_KEY_LENGTH

ENV_PREFIX = "ADUAN_NORMALIZER_"
KEY_HELP = (
    f"{ENV_PREFIX}PSEUDONYM_KEY must be set to a secret of at least {MIN_KEY_LENGTH} characters "
    "(e.g. the output of `openssl rand -hex 32`). It keys the reporter pseudonyms: keep it secret, and keep "
    "it stable, since a new key gives every reporter a new pseudonym."
)


class NormalizerSettings(ServiceSettings):
    """Env prefix ``ADUAN_NORMALIZER_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    port: int = 8111
    pseudonym_key: SecretStr = Field(description=KEY_HELP)
    boundaries_path: Path | None = Field(
        default=None, description="Kelurahan boundaries GeoJSON; without it, geocoding uses text only"
    )
    snap_distance_m: float = Field(default=DEFAULT_SNAP_M, ge=0, le=5_000)
    seen_collection: str = Field(default="normalizer_seen", min_length=1)
    # Only re-deliveries are found in memory (a first delivery is looked up in the store anyway), and they
    # come soon after the first: the uncommitted fetch after a crash, a channel's retry within minutes.
    dedupe_memory: int = Field(default=DEDUPE_MEMORY, ge=0, description="Report ids remembered in memory")
    seen_retention_days: float = Field(
        default=30, ge=0, description="Days a published report id is remembered in the database (0: forever)"
    )

    near_duplicates: bool = Field(
        default=True, description="Link near-duplicate reports (duplicate_of) in the stream"
    )
    neardup_collection: str = Field(default="normalizer_neardup", min_length=1)

    @field_validator("pseudonym_key")
    @classmethod
    def _key_long_enough(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().strip()) < MIN_KEY_LENGTH:
            raise ValueError(f"too short: {KEY_HELP}")
        return v
