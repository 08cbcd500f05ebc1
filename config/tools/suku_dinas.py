"""Regenerate the Suku Dinas units of an SKPD registry: one per listed dinas and per kota of the registry.

    python config/tools/suku_dinas.py config/jakarta/skpd.yaml

Run it after config/tools/territories.py (it reads the kota units). Code ``<dinas>-<4-digit kota code>``
(e.g. ``dbm-3174``), level ``suku_dinas``, parent the dinas, ``area_code`` the kota's Kemendagri code.
The official name is "Suku Dinas <field of the dinas> <official kota name>", e.g. "Suku Dinas Bina Marga
Kota Administrasi Jakarta Selatan"; Satpol PP's kota units are "Satuan Polisi Pamong Praja <kota>".
Every other unit is kept as it is; the Suku Dinas units are placed right after the dinas and bodies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

# Dinas that work through a Suku Dinas in every kota (DKI Jakarta's organisation of regional units).
SUKU_DINAS = (
    "dbm",
    "dishub",
    "distamhut",
    "dsda",
    "dlh",
    "citata",
    "satpolpp",
    "dinsos",
    "dinkes",
    "dukcapil",
)
LEVEL = "suku_dinas"


def unit_name(dinas_name: str, kota_name: str) -> str:
    if dinas_name.startswith("Dinas "):
        return f"Suku Dinas {dinas_name.removeprefix('Dinas ')} {kota_name}"
    return f"{dinas_name} {kota_name}"  # Satuan Polisi Pamong Praja Kota Administrasi ...


def suku_dinas_units(units: list[dict]) -> list[dict]:
    by_code = {u["code"]: u for u in units}
    kotas = [u for u in units if u["level"] == "kota"]
    out = []
    for dinas in SUKU_DINAS:
        d = by_code[dinas]
        for k in kotas:
            out.append(
                {
                    "code": f"{dinas}-{k['area_code'].replace('.', '')}",
                    "name": unit_name(d["name"], k["name"]),
                    "level": LEVEL,
                    "parent": dinas,
                    "area_code": k["area_code"],
                }
            )
    return out


def main(registry: str) -> None:
    path = Path(registry)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    header = "".join(lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    doc = yaml.safe_load(text)
    kept = [u for u in doc["units"] if u["level"] != LEVEL]
    top = [u for u in kept if u["level"] in ("dinas", "other")]
    rest = [u for u in kept if u["level"] not in ("dinas", "other")]
    doc["units"] = top + suku_dinas_units(kept) + rest
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
