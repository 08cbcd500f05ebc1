from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.settings import ServiceSettings
from aduan_notifier.targets import check_template


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

    @field_validator("signing_secret")
    @classmethod
    def _secret_not_blank(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("webhook_url_template")
    @classmethod
    def _template_usable(cls, v: str | None) -> str | None:
        if v is not None and v.strip():
            check_template(v.strip())
            return v.strip()
        return None
