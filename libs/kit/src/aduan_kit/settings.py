"""Settings: one pydantic-settings class per service, built by a factory at start-up (never at import).

``CommonSettings`` (env prefix ``ADUAN_``) holds what every service shares: broker, database, topic
prefix, city configuration. Each service adds its own class with its own prefix (``ADUAN_<SERVICE>_``)
and a ``common`` field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
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
    # Most records one fetch hands to a stage's handlers (one database round trip, one commit). A batch
    # closes when the fetch returns, not when it is full, so a larger value costs no latency at low load.
    kafka_batch_max_records: int = Field(default=1_000, ge=1, le=100_000)
    # A consumer that does not fetch again within this time leaves its group; a stage's batch (retries
    # included) must end well inside it.
    kafka_max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    # Topics made by `aduan topics create`: one replica on a single broker; the production profile runs
    # 3 replicas with 2 in sync (the producers use acks=all, so a write survives the loss of one broker).
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)
    # Write concern of every database write: "majority" on a replica set in production; unset, the
    # connection URL's (or the server's default).
    mongodb_write_concern: str | None = None

    @model_validator(mode="after")
    def _in_sync_within_replicas(self) -> CommonSettings:
        if (self.kafka_min_insync_replicas or 1) > self.kafka_replication_factor:
            raise ValueError("kafka_min_insync_replicas exceeds kafka_replication_factor")
        return self

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
    """Build settings from the environment at start-up (never at import), or exit with one line that
    names each missing or wrong variable. Values are never echoed: they may be secrets."""
    try:
        return cls()
    except ValidationError as e:
        raise SystemExit(f"invalid settings for {cls.__name__}: {describe_problems(cls, e)}") from None


def describe_problems(cls: type[BaseSettings], error: ValidationError) -> str:
    models: tuple[type[BaseSettings], ...] = (cls, CommonSettings)  # common is built inside cls
    model = next((m for m in models if m.__name__ == error.title), cls)
    prefix = str(model.model_config.get("env_prefix", ""))
    problems = []
    for err in error.errors(include_input=False, include_url=False):
        name = "_".join(str(p) for p in err["loc"])
        problem = f"{prefix}{name}".upper() + f": {err['msg']}"
        field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
        if err["type"] == "missing" and field is not None and field.description:
            problem += f" ({field.description})"
        problems.append(problem)
    return "; ".join(problems)
