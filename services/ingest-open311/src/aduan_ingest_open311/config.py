import re

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IntakeSettings

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Open311Settings(IntakeSettings):
    """Env prefix ``ADUAN_INGEST_OPEN311_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_INGEST_OPEN311_", extra="ignore")

    port: int = 8105
    api_key_hashes: dict[str, str] = Field(
        default_factory=dict,
        description='JSON {"<client>": "<sha256 hex of its api_key>"}; required, one entry per client',
    )
    # Set only by the embedded development stack: a generated key whose hash is added to the clients.
    dev_api_key: SecretStr | None = None

    @field_validator("api_key_hashes")
    @classmethod
    def _hashes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(client for client, h in value.items() if not _SHA256_HEX.match(h))
        if bad:
            raise ValueError(f"not a lowercase SHA-256 hex digest for: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _some_client(self) -> "Open311Settings":
        if not self.api_key_hashes and self.dev_api_key is None:
            raise ValueError("api_key_hashes: at least one client key is required")
        return self
