"""Discovery of the deployable services: every installed package that registers an ``aduan.services``
entry point (name -> its settings class). Adding a channel adds a service folder; nothing here changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

from pydantic import SecretStr
from pydantic_settings import BaseSettings

ENTRY_POINT_GROUP = "aduan.services"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str  # run with `python -m <module>`
    settings: type[BaseSettings]

    @property
    def env_prefix(self) -> str:
        return str(self.settings.model_config.get("env_prefix", ""))

    @property
    def default_port(self) -> int:
        return int(self.settings.model_fields["port"].default)

    def env_name(self, field: str) -> str:
        return f"{self.env_prefix}{field}".upper()

    def generated_secrets(self) -> list[str]:
        """Env names of the secret settings the stack generates dev values for: every secret, required or
        optional (an optional one, such as the router's operator token, turns an API on)."""
        return [
            self.env_name(name)
            for name, f in self.settings.model_fields.items()
            if f.annotation in (SecretStr, SecretStr | None)
        ]


def discover() -> list[ServiceSpec]:
    specs = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        specs.append(ServiceSpec(ep.name, ep.value.split(".")[0].split(":")[0], cls))
    return sorted(specs, key=lambda s: (s.default_port, s.name))
