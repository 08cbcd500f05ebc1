import re

import pytest

from aduan_normalizer.pseudonym import contact_of, pseudonymise
from aduan_schemas.events import Reporter

KEY = "k" * 32


def test_only_a_pseudonym_leaves() -> None:
    out = pseudonymise(
        Reporter(name="Budi", phone="+62 812-0000-0000", email="b@x.id", handle="@budi"), "qlue", KEY
    )
    assert out is not None
    assert re.fullmatch(r"psn_[0-9a-f]{24}", out.pseudonym or "")
    assert out.model_dump(exclude={"pseudonym"}) == {
        "name": None,
        "handle": None,
        "email": None,
        "phone": None,
    }


def test_stable_per_contact_and_channel() -> None:
    a = pseudonymise(Reporter(phone="+62 812-0000-0000"), "qlue", KEY)
    b = pseudonymise(Reporter(phone="0812 0000 0000", name="Another name"), "qlue", KEY)
    c = pseudonymise(Reporter(phone="6281200000000"), "twitter", KEY)
    assert a == b
    assert a != c


def test_email_and_handle_are_case_insensitive() -> None:
    assert pseudonymise(Reporter(email=" Warga@Mail.ID "), "email", KEY) == pseudonymise(
        Reporter(email="warga@mail.id"), "email", KEY
    )
    assert pseudonymise(Reporter(handle="@DKIJakarta"), "twitter", KEY) == pseudonymise(
        Reporter(handle="dkijakarta"), "twitter", KEY
    )
    assert contact_of(Reporter(handle="@DKIJakarta"), "twitter") == "twitter:handle:dkijakarta"


def test_the_key_matters() -> None:
    r = Reporter(email="warga@mail.id")
    assert pseudonymise(r, "email", KEY) != pseudonymise(r, "email", "q" * 32)


def test_no_contact_no_reporter() -> None:
    assert pseudonymise(None, "qlue", KEY) is None
    assert pseudonymise(Reporter(name="Budi"), "qlue", KEY) is None


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        pseudonymise(Reporter(email="a@b.id"), "email", "")


@pytest.mark.parametrize(
    "spelling",
    [
        "+62 (0)812-3456-7890",
        "+62 (0) 812 3456 7890",
        "0812 3456 7890",
        "0812-3456-7890",
        "0812.3456.7890",
        "+6281234567890",
        "6281234567890",
        "62 812 3456 7890",
        "0062 812 3456 7890",
    ],
)
def test_every_spelling_of_one_indonesian_number_is_one_pseudonym(spelling: str) -> None:
    """Checked to fail: with the former digits-only normalisation, ``+62 (0)812…`` became
    ``620812…`` and got a second pseudonym (the two ``(0)`` spellings failed)."""
    assert pseudonymise(Reporter(phone=spelling), "sms", KEY) == pseudonymise(
        Reporter(phone="081234567890"), "sms", KEY
    )
    assert contact_of(Reporter(phone=spelling), "sms") == "sms:phone:6281234567890"


def test_a_foreign_number_keeps_its_country_and_garbage_keeps_its_digits() -> None:
    assert contact_of(Reporter(phone="+1 415 555 2671"), "sms") == "sms:phone:14155552671"
    assert contact_of(Reporter(phone="no. 12"), "sms") == "sms:phone:12"
    assert contact_of(Reporter(phone="tidak ada", email="a@b.id"), "sms") == "sms:email:a@b.id"
