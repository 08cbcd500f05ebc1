import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IngestSettings

# IMAP folder names are sent quoted; non-ASCII names would need modified UTF-7, so they are refused.
_FOLDER = re.compile(r"^[\x20-\x7e]{0,200}$")


class EmailSettings(IngestSettings):
    """Env prefix ``ADUAN_INGEST_EMAIL_``; shared settings come from ``ADUAN_*`` (see the kit).

    The mailbox is read only when ``imap_host`` is set; without it the service is the signed webhook.
    """

    model_config = SettingsConfigDict(env_prefix="ADUAN_INGEST_EMAIL_", extra="ignore")

    port: int = 8103

    imap_host: str | None = Field(default=None, description="IMAP server; unset: the mailbox is not read")
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_tls: bool = Field(default=True, description="Implicit TLS (port 993); off only on a trusted link")
    imap_ca_file: Path | None = Field(
        default=None, description="Trust this CA (PEM file) for the IMAP server instead of the system's"
    )
    imap_user: str = ""
    imap_password: SecretStr | None = None
    folder: str = "INBOX"
    processed_folder: str = Field(
        default="Aduan-Diproses", description="Published mail goes here (empty: stays)"
    )
    skipped_folder: str = Field(default="Aduan-Dilewati", description="Auto-replies and bounces go here")
    failed_folder: str = Field(default="Aduan-Gagal", description="Mail that cannot become a report")
    idle: bool = Field(default=True, description="Wait with IMAP IDLE when the server offers it, else poll")
    idle_timeout_s: float = Field(default=1_500, gt=0, le=1_740)  # re-issue IDLE before the 29 min logout
    poll_interval_s: float = Field(default=60, gt=0, le=3_600)
    max_message_bytes: int = Field(default=25_000_000, ge=10_000, le=200_000_000)
    command_timeout_s: float = Field(default=60, gt=0, le=600)
    reconnect_max_s: float = Field(default=60, gt=0, le=3_600)

    @field_validator("folder", "processed_folder", "skipped_folder", "failed_folder")
    @classmethod
    def _ascii_folder(cls, value: str) -> str:
        if not _FOLDER.match(value):
            raise ValueError("folder names must be printable ASCII, at most 200 characters")
        return value
