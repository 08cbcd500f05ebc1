"""One YAML reader for every configuration file: libyaml's safe loader when PyYAML was built with it.

The pure-Python loader takes about ten times as long: the city's files took ~1 s to read with it, paid by
every service start and every test that loads the city. Both loaders build the same plain data.
"""

from __future__ import annotations

from typing import IO, Any

import yaml

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(source: str | bytes | IO[str] | IO[bytes]) -> Any:
    """``yaml.safe_load`` with the fastest safe loader available (raises ``yaml.YAMLError`` the same way)."""
    return yaml.load(source, Loader=_LOADER)  # either loader is a safe one
