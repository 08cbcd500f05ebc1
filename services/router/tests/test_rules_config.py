"""A bad routing file is refused at load time with an error naming the file, the rule and the problem."""

import shutil
from pathlib import Path

import pytest
import yaml

from aduan_kit.testing.plugin import CITY_DIR
from aduan_schemas.city import CityConfigError, load_city


def city_with_rule(tmp_path: Path, rule: dict[str, object], **top: object) -> Path:
    shutil.copytree(CITY_DIR, tmp_path, dirs_exist_ok=True)  # the whole city: its files refer to each other
    doc = yaml.safe_load((tmp_path / "routing.yaml").read_text(encoding="utf-8"))
    doc["rules"].insert(0, rule)
    doc.update(top)
    (tmp_path / "routing.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"id": "x", "category": "sampah", "to": "dinas-hantu"}, "rule x: unknown SKPD 'dinas-hantu'"),
        (
            {"id": "x", "category": "sampah", "to": "@sudin:hantu"},
            "rule x: unknown dinas in target '@sudin:hantu'",
        ),
        ({"id": "x", "category": "sampah", "to": "@sudin:inspektorat"}, "inspektorat has no Suku Dinas"),
        ({"id": "x", "category": "sampah", "to": "@rt"}, "rule x: unknown target '@rt'"),
        (
            {"id": "x", "category": "sampah", "to": "dlh", "alternative": "nope"},
            "rule x: unknown SKPD 'nope'",
        ),
        ({"id": "x", "category": "hantu", "to": "dlh"}, "rule x: unknown category 'hantu'"),
        ({"id": "x", "category": "sampah", "to": "dlh", "kota": ["Gotham"]}, "rule x: unknown kota 'Gotham'"),
        ({"id": "x", "category": "sampah", "to": "dlh", "words": ["truk", "?!"]}, "rule x: word '?!'"),
        ({"id": "x", "category": "sampah", "to": "dlh", "certainty": 2}, "certainty"),
        ({"id": "x", "category": "sampah", "to": "dlh", "kemana": "dlh"}, "kemana"),
        ({"id": "sampah-kelurahan", "category": "sampah", "to": "dlh"}, "duplicate rule ids"),
    ],
)
def test_bad_rule_is_refused_naming_file_rule_and_problem(
    tmp_path: Path, rule: dict[str, object], problem: str
) -> None:
    # checked: with CityConfig.target_problem accepting every target, the target cases go red
    d = city_with_rule(tmp_path, rule)
    with pytest.raises(CityConfigError) as err:
        load_city(d)
    assert "routing.yaml" in str(err.value) and problem in str(err.value)


def test_bad_threshold_is_refused(tmp_path: Path) -> None:
    d = city_with_rule(tmp_path, {"id": "x", "category": "sampah", "to": "dlh"}, triage_below=1.5)
    with pytest.raises(CityConfigError, match=r"routing\.yaml.*triage_below"):
        load_city(d)


def test_broken_yaml_is_refused(tmp_path: Path) -> None:
    d = city_with_rule(tmp_path, {"id": "x", "category": "sampah", "to": "dlh"})
    (d / "routing.yaml").write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(CityConfigError, match=r"routing\.yaml: not valid YAML"):
        load_city(d)


def test_a_label_claimed_by_two_categories_is_refused(tmp_path: Path) -> None:
    d = city_with_rule(tmp_path, {"id": "x", "category": "sampah", "to": "dlh"})
    doc = yaml.safe_load((d / "categories.yaml").read_text(encoding="utf-8"))
    doc["categories"][1]["hints"].append("sampah!")
    (d / "categories.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CityConfigError, match=r"categories\.yaml.*'sampah!' maps to both"):
        load_city(d)


def test_the_shipped_configuration_loads() -> None:
    city = load_city(CITY_DIR)
    levels = [u.level.value for u in city.skpd.units]
    assert (levels.count("kelurahan"), levels.count("kecamatan"), levels.count("kota")) == (267, 44, 6)
    assert levels.count("suku_dinas") == 10 * 6
    assert city.skpd.get("dbm-3174").name == "Suku Dinas Bina Marga Kota Administrasi Jakarta Selatan"
    assert city.skpd.get("satpolpp-3174").name == (
        "Satuan Polisi Pamong Praja Kota Administrasi Jakarta Selatan"
    )
    assert city.skpd.get("dbm-3174").parent == "dbm"
