"""Settings: one pydantic-settings class per service, built by a factory at start-up (never at import).

``CommonSettings`` (env prefix ``ADUAN_``) holds what every service shares: broker, database, topic
prefix, city configuration. Each service adds its own class with its own prefix (``ADUAN_<SERVICE>_``)
and a ``common`` field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from aduan_schemas.city import CityConfig, load_city
from aduan_schemas.topics import TopicNames


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADUAN_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    mongodb_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongodb_db: str = "aduan"
    topic_prefix: str = Field(default="", description="Prepended to every topic name (test isolation)")
    city_dir: Path = Path("config/jakarta")
    log_level: str = "INFO"
    # Kafka consumer timing. Defaults suit Apache Kafka; the embedded stack and tests lower them
    # (Tansu holds a JoinGroup for half the session timeout and does not wake a waiting fetch).
    kafka_fetch_max_wait_ms: int = Field(default=100, ge=1)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(prefix=self.topic_prefix)

    def load_city(self) -> CityConfig:
        return load_city(self.city_dir)


class ServiceSettings(BaseSettings):
    """Base of every service's settings: where its HTTP server listens."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    common: CommonSettings = Field(default_factory=CommonSettings)


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment; call this at start-up, not at import."""
    return cls()
