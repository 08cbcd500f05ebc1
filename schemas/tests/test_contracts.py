"""The exported contract files match the models, and the models enforce the contract's rules."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from aduan_schemas import TOPICS, RawQlue, raw_report_adapter
from aduan_schemas.city import CityConfigError, load_city
from aduan_schemas.export import render
from aduan_schemas.topics import SKPD_TEMPLATE, TopicNames, skpd_topic_name

SCHEMAS_DIR = Path(__file__).resolve().parents[1]
REPO = SCHEMAS_DIR.parent


@pytest.mark.parametrize("rel", sorted(render()))
def test_exported_file_matches_models(rel: str) -> None:
    committed = SCHEMAS_DIR / rel
    assert committed.is_file(), f"{rel} missing: run `python -m aduan_schemas.export`"
    assert committed.read_text(encoding="utf-8") == render()[rel], (
        f"{rel} drifted from the models: run `python -m aduan_schemas.export` and commit"
    )


def test_no_stale_exported_files() -> None:
    on_disk = {f"jsonschema/{p.name}" for p in (SCHEMAS_DIR / "jsonschema").glob("*.json")}
    assert on_disk == {r for r in render() if r.startswith("jsonschema/")}


def test_every_topic_has_a_model_with_an_event_type() -> None:
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    for t in (*TOPICS, SKPD_TEMPLATE):
        assert t.model.EVENT_TYPE.startswith("aduan.")


def test_raw_union_picks_the_channel_model_and_rejects_unknown_channels() -> None:
    ev = raw_report_adapter.validate_python(
        {"channel": "qlue", "channel_message_id": "q1", "received_at": "2026-11-01T08:00:00+07:00"}
    )
    assert isinstance(ev, RawQlue)
    with pytest.raises(ValidationError):
        raw_report_adapter.validate_python(
            {"channel": "fax", "channel_message_id": "q1", "received_at": "2026-11-01T08:00:00+07:00"}
        )


def test_raw_report_needs_timezone_and_bounded_text() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        RawQlue(channel_message_id="a", received_at=datetime(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at most"):
        RawQlue(channel_message_id="a", received_at=datetime.now(UTC), text="x" * 10_001)


def test_unknown_fields_are_ignored_for_additive_changes() -> None:
    ev = RawQlue.model_validate_json(
        '{"channel_message_id":"a","received_at":"2026-11-01T08:00:00Z","new_field":1}'
    )
    assert "new_field" not in ev.model_dump()


def test_topic_names_prefix_and_skpd_codes() -> None:
    names = TopicNames(prefix="t1.")
    assert names.raw("qlue") == "t1.aduan.raw.qlue"
    assert names.skpd("dbm") == "t1.aduan.skpd.dbm"
    with pytest.raises(ValueError, match="invalid SKPD code"):
        skpd_topic_name("Dinas Bina Marga")


def test_jakarta_city_config_loads_and_covers_every_kelurahan() -> None:
    city = load_city(REPO / "config" / "jakarta")
    levels = [u.level.value for u in city.skpd.units]
    assert levels.count("kelurahan") == 267
    assert levels.count("kecamatan") == 44
    assert city.skpd.kelurahan_unit("31.71.01.1001").name == "Kelurahan Gambir"  # type: ignore[union-attr]
    name, policy = city.sla.for_category("sampah")
    assert (name, policy.respond_within.total_seconds(), policy.resolve_within.days) == ("standard", 21600, 7)


def test_city_config_rejects_unknown_references(tmp_path: Path) -> None:
    src = REPO / "config" / "jakarta"
    for f in src.iterdir():
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    routing = tmp_path / "routing.yaml"
    routing.write_text(routing.read_text(encoding="utf-8").replace("to: dpe", "to: nope"), encoding="utf-8")
    with pytest.raises(CityConfigError, match=r"routing\.yaml: rule listrik-dpe: unknown SKPD 'nope'"):
        load_city(tmp_path)


def test_category_groups_name_known_categories_once(tmp_path: Path) -> None:
    """Fails if the groups check in ``Taxonomy._consistent`` is removed."""
    city = load_city(REPO / "config" / "jakarta")
    assert set(city.taxonomy.group_of) == {c.code for c in city.taxonomy.categories}
    assert city.taxonomy.group_of["sampah"] == "Kebersihan dan Lingkungan Hidup"
    src = REPO / "config" / "jakarta"
    for f in src.iterdir():
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    categories = tmp_path / "categories.yaml"
    text = categories.read_text(encoding="utf-8")
    categories.write_text(
        text.replace("  Lainnya: [lainnya]", "  Lainnya: [lainnya, nope]"), encoding="utf-8"
    )
    with pytest.raises(CityConfigError, match="unknown category codes"):
        load_city(tmp_path)
    categories.write_text(
        text.replace("  Lainnya: [lainnya]", "  Lainnya: [lainnya, sampah]"), encoding="utf-8"
    )
    with pytest.raises(CityConfigError, match="more than one group"):
        load_city(tmp_path)
