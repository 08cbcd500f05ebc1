from pydantic_settings import SettingsConfigDict

from aduan_kit.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    """Env prefix ``ADUAN_ROUTER_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_ROUTER_", extra="ignore")

    port: int = 8112
