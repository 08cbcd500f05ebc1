"""The city's X accounts and hashtags: ``twitter.yaml`` in the city's configuration directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aduan_schemas import yamlfile

FILE = "twitter.yaml"
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,50}$")]


class CityAccounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[Name] = Field(min_length=1, max_length=20)
    hashtags: list[Name] = Field(default_factory=list, max_length=50)


def load_accounts(city_dir: Path) -> CityAccounts:
    """Raises ``ValueError`` naming the file and the problem."""
    path = city_dir / FILE
    try:
        return CityAccounts.model_validate(yamlfile.safe_load(path.read_text(encoding="utf-8")))
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors(include_url=False)[:3]
        )
        raise ValueError(f"{path}: {problems}") from None
