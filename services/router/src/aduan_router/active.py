"""The city configuration the router routes with, and its reload with refusal.

``ActiveCity.reload`` re-reads the whole city directory (``load_city``: registry, categories, routing
rules, SLA policies, cross-checked). A file that does not parse or validate is refused with the reason
and the rules already loaded stay active: a typo in a rules file must never stop routing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aduan_schemas.city import CityConfig, load_city

MAX_REASON = 2_000


class RulesRefused(Exception):
    """The city files on disk cannot be used; the reason is readable by the operator who edited them."""


def describe(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(x) for x in err['loc']) or 'file'}: {err['msg']}" for err in error.errors()[:5]
        ]
        more = error.error_count() - len(parts)
        text = f"{error.title}: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    elif isinstance(error, yaml.YAMLError):
        text = f"invalid YAML: {error}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:MAX_REASON]


@dataclass
class ActiveCity:
    city_dir: Path
    city: CityConfig
    loaded_at: datetime
    refused: dict[str, Any] | None = field(default=None)

    def reload(self, now: datetime) -> CityConfig:
        """Load the files again; on success they become active, else ``RulesRefused`` (old rules stay)."""
        try:
            city = load_city(self.city_dir)
        except (yaml.YAMLError, ValueError, OSError) as e:  # pydantic's ValidationError is a ValueError
            reason = describe(e).replace(f"{self.city_dir}{os.sep}", "")  # file names, not host paths
            self.refused = {"at": now.isoformat(), "error": reason}
            raise RulesRefused(reason) from e
        self.city, self.loaded_at, self.refused = city, now, None
        return city

    def status(self) -> dict[str, Any]:
        c = self.city
        return {
            "routing_version": c.routing.version,
            "skpd_version": c.skpd.version,
            "taxonomy_version": c.taxonomy.version,
            "sla_version": c.sla.version,
            "loaded_at": self.loaded_at.isoformat(),
            "last_refused": self.refused,
        }
