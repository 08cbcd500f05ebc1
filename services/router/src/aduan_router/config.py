from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.settings import ServiceSettings

MIN_TOKEN_LENGTH = 16


class RouterSettings(ServiceSettings):
    """Env prefix ``ADUAN_ROUTER_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_ROUTER_", extra="ignore")

    port: int = 8112
    operator_token: SecretStr | None = Field(
        default=None,
        description=f"Bearer token of the operator API (at least {MIN_TOKEN_LENGTH} characters); "
        "unset: the API answers 503",
    )
    triage_collection: str = Field(default="triage", min_length=1)

    @field_validator("operator_token")
    @classmethod
    def _token_long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        if len(v.get_secret_value().strip()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"too short: use at least {MIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )
        return SecretStr(v.get_secret_value().strip())
