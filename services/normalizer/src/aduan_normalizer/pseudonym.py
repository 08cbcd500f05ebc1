"""Reporter pseudonyms: a keyed hash of the reporter's contact, so the contact never leaves the raw topic.

``psn_`` + the first 24 hex digits (96 bits) of HMAC-SHA256(key, "<channel>:<kind>:<contact>"). The same
contact on the same channel always gets the same pseudonym (so repeat reporters can be counted); without
the key nobody can test a guessed phone number against it. The contact used is the first present of
phone, email, handle, normalised so that spelling variants agree:

- phone: parsed by ``phonenumbers`` (Google's libphonenumber metadata) as an Indonesian number unless it
  carries another country code, and keyed as its E.164 digits without the ``+``, so ``0812…``,
  ``+62 812…``, ``+62 (0)812…`` and ``0062 812…`` agree (and pseudonyms made before the library stay
  the same for numbers written plainly). A string the library cannot read as a possible number falls
  back to its digits;
- email: trimmed, lowercased;
- handle: trimmed, lowercased, without a leading ``@``.

A reporter with no contact (a name alone, or nothing) gets no pseudonym: ``reporter`` is null.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

from aduan_schemas.events import Reporter

PREFIX = "psn_"
HEX_DIGITS = 24
DEFAULT_COUNTRY_CODE = "62"
DEFAULT_REGION = "ID"
MIN_KEY_LENGTH = 16


def normalise_phone(phone: str, region: str = DEFAULT_REGION) -> str:
    """The number's E.164 digits (no ``+``); digits only when it is not a possible number."""
    text = phone.strip()
    if text.startswith("00"):  # international dialling prefix; libphonenumber reads it as national digits
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    return _digits(phone)


def _digits(phone: str, country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    digits = "".join(ch for ch in phone if ch.isascii() and ch.isdigit())
    if digits.startswith("00"):  # international dialling prefix
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = country_code + digits[1:]
    return digits


def contact_of(reporter: Reporter | None, channel: str) -> str | None:
    """The normalised contact string that is hashed, or None when the reporter left no contact."""
    if reporter is None:
        return None
    if reporter.phone and (phone := normalise_phone(reporter.phone)):
        return f"{channel.casefold()}:phone:{phone}"
    if reporter.email and reporter.email.strip():
        return f"{channel.casefold()}:email:{reporter.email.strip().casefold()}"
    if reporter.handle and (handle := reporter.handle.strip().lstrip("@").casefold()):
        return f"{channel.casefold()}:handle:{handle}"
    return None


def pseudonym(contact: str, key: str) -> str:
    digest = hmac.new(key.encode(), contact.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]


def pseudonymise(reporter: Reporter | None, channel: str, key: str) -> Reporter | None:
    """``Reporter(pseudonym=...)`` with nothing else, or None when there is no contact to key it on."""
    if not key:
        raise ValueError("the pseudonym key is empty")
    contact = contact_of(reporter, channel)
    if contact is None:
        return None
    return Reporter(pseudonym=pseudonym(contact, key))
