import uuid

from aduan_kit.testing.samples import raw_qlue
from aduan_schemas.ids import REPORT_ID_NAMESPACE, report_id, report_id_for


def test_report_id_is_uuid5_of_channel_and_message_id() -> None:
    # Checked to fail: with the variant bits left unset, ids differed from uuid5's for most names.
    names = ["qlue-123", "", "ü€😀 <a@b.id>", *(f"m-{i}" for i in range(300))]
    for channel in ("qlue", "twitter", "email"):
        for name in names:
            expected = str(uuid.uuid5(REPORT_ID_NAMESPACE, f"{channel}:{name}"))
            assert report_id_for(channel, name) == expected


def test_report_id_is_pinned() -> None:
    # Changing the namespace would give every past report a new id: this value must never change.
    assert report_id_for("qlue", "qlue-123") == "7c7fc4ac-e6fd-5b14-9634-aad2d8544c84"


def test_same_channel_message_same_id_other_fields_do_not_matter() -> None:
    a = raw_qlue(channel_message_id="qlue-9", text="satu")
    b = raw_qlue(channel_message_id="qlue-9", text="dua", category_hint="Banjir")
    assert report_id(a) == report_id(b)


def test_channel_is_part_of_the_id() -> None:
    assert report_id_for("qlue", "42") != report_id_for("twitter", "42")
