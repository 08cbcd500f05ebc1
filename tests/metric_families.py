"""Which metric families each service declares, hence exports: the kit's stream families
(``aduan_kit.metrics``) in every service, the ingest families (``aduan_kit.ingest_metrics``) in every
ingest adapter, and each service's own ``aduan_<service>.metrics``. The deployment tests check rules and
dashboards against these, and the stack tests check each service's ``/metrics`` against them."""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

from prometheus_client.metrics import MetricWrapperBase

REPO = Path(__file__).resolve().parents[1]
KIT_MODULE = "aduan_kit.metrics"
INGEST_MODULE = "aduan_kit.ingest_metrics"


@cache
def service_packages() -> dict[str, str]:
    """Service name -> its Python package (``services/<name>/src/<package>``)."""
    return {
        src.parent.name: pkg.name
        for src in (REPO / "services").glob("*/src")
        for pkg in src.iterdir()
        if (pkg / "__init__.py").is_file()
    }


def modules_of(service: str) -> list[str]:
    modules = [KIT_MODULE]
    if service.startswith("ingest-"):
        modules.append(INGEST_MODULE)
    own = f"{service_packages()[service]}.metrics"
    if importlib.util.find_spec(own) is not None:
        modules.append(own)
    return modules


def declared(module: ModuleType) -> dict[str, str]:
    """Family name (as the exposition parser names it: counters without ``_total``) -> type."""
    return {
        family.name: family.type
        for obj in vars(module).values()
        if isinstance(obj, MetricWrapperBase)
        for family in obj.describe()
    }


def families_of(service: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in modules_of(service):
        out |= declared(importlib.import_module(name))
    return out


def all_families() -> dict[str, str]:
    out: dict[str, str] = {}
    for service in service_packages():
        out |= families_of(service)
    return out


def exporters() -> dict[str, set[str]]:
    """Family name -> the services that export it."""
    out: dict[str, set[str]] = {}
    for service in service_packages():
        for family in families_of(service):
            out.setdefault(family, set()).add(service)
    return out


def label_names() -> dict[str, tuple[str, ...]]:
    """Family name -> the label names it declares (Prometheus adds job, service and instance)."""
    out: dict[str, tuple[str, ...]] = {}
    for service in service_packages():
        for name in modules_of(service):
            for obj in vars(importlib.import_module(name)).values():
                if isinstance(obj, MetricWrapperBase):
                    out[next(iter(obj.describe())).name] = tuple(obj._labelnames)
    return out


def series_names(families: dict[str, str]) -> set[str]:
    """Series names the families expose: counters as <name>_total, histograms as _bucket etc."""
    names: set[str] = set()
    for name, kind in families.items():
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count")}
        elif kind == "summary":
            names |= {name, f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names
