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
