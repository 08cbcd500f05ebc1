from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.settings import ServiceSettings
from aduan_notifier.targets import check_email_template, check_template


class NotifierSettings(ServiceSettings):
    """Env prefix ``ADUAN_NOTIFIER_``; shared settings come from ``ADUAN_*`` (see the kit)."""

    model_config = SettingsConfigDict(env_prefix="ADUAN_NOTIFIER_", extra="ignore")

    port: int = 8114
    signing_secret: SecretStr = Field(description="HMAC key that signs every webhook (shared with SKPDs)")
    webhook_url_template: str | None = Field(
        default=None,
        description="e.g. http://gateway/skpd/{skpd_code}; when unset, each unit's contact.webhook_url",
    )
    max_attempts: int = Field(default=5, ge=1, le=10, description="POST attempts per webhook")
    backoff_initial_s: float = Field(default=0.5, ge=0, description="Wait before the 2nd attempt")
    backoff_max_s: float = Field(default=4.0, ge=0, description="Longest wait between attempts")
    request_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Whole-request limit per attempt")
    max_body_bytes: int = Field(default=512 * 1024, ge=1024, description="Largest webhook body sent")
    concurrency: int = Field(default=16, ge=1, le=256, description="Webhooks in flight at once")
    # Every delivery of a batch ends by then (attempts cut short), so the batch and the next fetch stay
    # inside the consumer's poll interval (ADUAN_KAFKA_MAX_POLL_INTERVAL_MS): at most half of it.
    batch_deadline_s: float = Field(default=120, gt=0, description="Longest time one batch spends sending")

    # The contact store (raw topics -> ``contacts``).
    contact_retention_days: int = Field(default=180, ge=1, le=3650, description="Contacts kept this long")
    contact_wait_s: float = Field(
        default=60, ge=0, le=3600, description="How long a citizen reply waits for its report's contact"
    )

    # Email (SMTP), to units and citizens.
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no email is sent")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificates that verify the SMTP server; default: the system's"
    )
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(default=None, description="From address, e.g. aduan@jakarta.go.id")
    smtp_timeout_s: float = Field(default=10, gt=0, le=120)
    email_domain: str | None = Field(
        default=None, description="Domain of our Message-IDs; default: the From address's domain"
    )
    unit_email_template: str | None = Field(
        default=None, description="e.g. aduan+{skpd_code}@example.go.id; unset: each unit's contact.email"
    )

    # Replies on the citizen's own channel.
    x_api_url: str = Field(default="https://api.x.com", description="X API v2 base URL")
    x_bearer_token: SecretStr | None = Field(default=None, description="User-context token that may post")
    qlue_callback_url: str | None = Field(default=None, description="Qlue status callback endpoint")
    qlue_callback_secret: SecretStr | None = Field(default=None, description="HMAC key of Qlue callbacks")
    sms_gateway_url: str | None = Field(default=None, description="HTTP SMS gateway: POST {to, text}")
    sms_gateway_token: SecretStr | None = Field(default=None, description="Bearer token of the gateway")

    # The breach digest to units.
    digest_interval_s: int = Field(
        default=3600, ge=1, le=7 * 86400, description="Digest period: one email per unit per period"
    )
    digest_check_s: float = Field(default=30, gt=0, le=3600, description="How often closed periods are sent")

    @field_validator("signing_secret")
    @classmethod
    def _secret_not_blank(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _pairs_complete(self) -> "NotifierSettings":
        if self.smtp_host and not self.smtp_from:
            raise ValueError("ADUAN_NOTIFIER_SMTP_FROM is required when ADUAN_NOTIFIER_SMTP_HOST is set")
        if self.qlue_callback_url and not self.qlue_callback_secret:
            raise ValueError(
                "ADUAN_NOTIFIER_QLUE_CALLBACK_SECRET is required when ADUAN_NOTIFIER_QLUE_CALLBACK_URL is set"
            )
        if self.unit_email_template:
            check_email_template(self.unit_email_template)
        if self.batch_deadline_s * 2_000 > self.common.kafka_max_poll_interval_ms:
            raise ValueError(
                "ADUAN_NOTIFIER_BATCH_DEADLINE_S must be at most half of ADUAN_KAFKA_MAX_POLL_INTERVAL_MS"
            )
        return self

    @property
    def message_id_domain(self) -> str:
        if self.email_domain:
            return self.email_domain
        return (self.smtp_from or "aduan.invalid").rpartition("@")[2] or "aduan.invalid"

    @field_validator("webhook_url_template")
    @classmethod
    def _template_usable(cls, v: str | None) -> str | None:
        if v is not None and v.strip():
            check_template(v.strip())
            return v.strip()
        return None
