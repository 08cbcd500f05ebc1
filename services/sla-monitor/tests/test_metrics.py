"""Metric labels of the SLA monitor: bounded, and derived from the SKPD registry."""

from aduan_schemas.city import CityConfig
from aduan_sla_monitor.metrics import unit_labels


def test_a_unit_is_labelled_with_its_kota_and_level(city: CityConfig) -> None:
    """Checked to fail: with the kota looked up by the whole area code instead of its first five
    characters, the kelurahan got "provinsi"."""
    assert unit_labels("dlh-3171", city.skpd) == ("Jakarta Pusat", "suku_dinas")
    assert unit_labels("kel-3101011001", city.skpd) == ("Kepulauan Seribu", "kelurahan")
    assert unit_labels("dlh", city.skpd) == ("provinsi", "dinas")
    assert unit_labels("no-such-unit", city.skpd) == ("unknown", "unknown")
    assert unit_labels(None, city.skpd) == ("unknown", "unknown")
