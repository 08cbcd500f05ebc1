"""mask_contacts: phone numbers, e-mail addresses, accounts and NIK typed into free text are masked;
ordinary complaint text (dates, amounts, RT/RW, area codes, times) is left as it was.

Breaking it on purpose showed: with the WhatsApp link pattern removed, ``wa.me/62…`` became
``wa.me/[TELEPON]`` (the link test fails); with ``MIN_PHONE_DIGITS`` raised to 12 the landline cases
fail; with the handle step removed the @handle cases fail; with ``_EMAIL_WORDS`` removed the
"at … dot" disguise fails; with the run bound ``{1,20}`` removed the 10,000-character timing test
takes over a second and fails.
"""

import time

import pytest

from aduan_text.pii import EMAIL, HANDLE, NIK, PHONE, mask_contacts


@pytest.mark.parametrize(
    "phone",
    [
        "081234567890",
        "0812-3456-7890",
        "0812 3456 7890",
        "0812.3456.7890",
        "0812 - 3456 - 7890",
        "08123456789",
        "0857 1234 567",
        "+6281234567890",
        "+62 812 3456 7890",
        "+62-812-3456-7890",
        "+62 (0) 812 3456 7890",
        "+62 812.3456.7890",
        "6281234567890",
        "62-812-3456-7890",
        "62 812 3456 7890",
        "021-5551234",
        "(021) 555-1234",
        "(021) 5551 2345",
        "0251 8321 456",
    ],
)
def test_indonesian_phone_forms_are_masked(phone: str) -> None:
    assert mask_contacts(f"tolong hubungi {phone} ya pak") == f"tolong hubungi {PHONE} ya pak"
    assert mask_contacts(f"WA:{phone}.") == f"WA:{PHONE}."
    assert mask_contacts(phone) == PHONE


@pytest.mark.parametrize(
    "link",
    [
        "wa.me/6281234567890",
        "https://wa.me/6281234567890",
        "http://wa.me/+6281234567890",
        "https://api.whatsapp.com/send?phone=6281234567890&text=halo",
        "https://web.whatsapp.com/send?phone=6281234567890",
    ],
)
def test_whatsapp_links_are_masked_whole(link: str) -> None:
    assert mask_contacts(f"chat saya di {link} saja") == f"chat saya di {PHONE} saja"


@pytest.mark.parametrize(
    "email",
    [
        "budi.santoso@gmail.com",
        "budi_s+aduan@yahoo.co.id",
        "Budi.Santoso@Mail.Example.ORG",
        "budi @ gmail . com",
        "budi at gmail dot com",
        "budi AT gmail DOT co DOT id",
        "budi [at] gmail [dot] com",
        "budi[at]gmail[dot]com",
        "budi (at) gmail.com",
        "budi(at)gmail(dot)com",
        "budi {at} gmail {dot} com",
        "budi [at] gmail [titik] com",
    ],
)
def test_email_addresses_and_their_disguises_are_masked(email: str) -> None:
    assert mask_contacts(f"email saya {email}, terima kasih") == f"email saya {EMAIL}, terima kasih"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cc @budi_santoso tolong", f"cc {HANDLE} tolong"),
        ("@warga.jkt lihat ini", f"{HANDLE} lihat ini"),
        ("kata @budi123: parah", f"kata {HANDLE}: parah"),
        ("ig saya instagram.com/budi.s ya", f"ig saya {HANDLE} ya"),
        ("https://x.com/budi_s/status/1234", HANDLE),
        ("https://www.facebook.com/budi.santoso.9", HANDLE),
        ("t.me/budisantoso", HANDLE),
        ("https://www.tiktok.com/@budi.s", HANDLE),
    ],
)
def test_handles_and_profile_links_are_masked(text: str, expected: str) -> None:
    assert mask_contacts(text) == expected


def test_official_accounts_may_be_kept() -> None:
    text = "@DKIJakarta @dkijakarta tolong, kata @budi_s"
    assert (
        mask_contacts(text, keep_handles=["@DKIJakarta"]) == f"@DKIJakarta @dkijakarta tolong, kata {HANDLE}"
    )
    assert mask_contacts(text) == f"{HANDLE} {HANDLE} tolong, kata {HANDLE}"


def test_nik_is_masked() -> None:
    assert mask_contacts("NIK 3171012345678901 atas nama saya") == f"NIK {NIK} atas nama saya"


@pytest.mark.parametrize(
    "text",
    [
        "Tumpukan sampah di trotoar, sudah tiga hari tidak diangkut",
        "RT 003/RW 005, Kel. Gambir, sejak 12-11-2026 pukul 08.30",
        "kode wilayah 31.71.01.1001",
        "diminta Rp 62.000.000 dan Rp 50.000",
        "tinggi air 0,5 meter, 120 rumah terendam",
        "jam 08.00-10.00, 2 orang, 3x sudah lapor",
        "call center 112 dan 1500-xxx",
        "kumpul at halte.Tolong dicek",
        "nomor 0812345678901234567890 bukan telepon",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_contacts(text) == text


def test_a_number_typed_right_after_a_phone_stays() -> None:
    text = "0812 3456 7890 12 November 2026, juga 0813-1111-2222"
    assert mask_contacts(text) == f"{PHONE} 12 November 2026, juga {PHONE}"


def test_mixed_text_masks_everything_once() -> None:
    text = (
        "Saya Budi (0812-3456-7890 / budi@gmail.com / @budi_s), "
        "WA wa.me/6281234567890, NIK 3171012345678901. Sampah menumpuk di RT 05."
    )
    assert mask_contacts(text) == (
        f"Saya Budi ({PHONE} / {EMAIL} / {HANDLE}), WA {PHONE}, NIK {NIK}. Sampah menumpuk di RT 05."
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "01" + " " * 9_990 + "x",
        "0812-" * 2_000,
        "08123456789 " * 800,
        "a." * 4_990 + "@b",
        "a at " * 2_000,
        "a [at] " * 1_400,
        "@" * 10_000,
        "(0" * 5_000,
        "+62 " * 2_500,
    ],
)
def test_hostile_input_of_the_largest_text_size_is_fast(hostile: str) -> None:
    started = time.perf_counter()
    mask_contacts(hostile)
    assert time.perf_counter() - started < 0.5
