"""Masking of contact details that people type into free text: ``mask_contacts(text) -> str``.

Reporter contact is kept on the raw topic only, but citizens (and officials) also type phone numbers,
e-mail addresses and social accounts into the complaint text and notes. Anything shown beyond the raw
topic passes through ``mask_contacts``, which replaces them with placeholders a reader understands:

- ``[TELEPON]``: Indonesian phone numbers — mobile ``08…``, ``+62 8…``, ``62-8…``, ``+62 (0) 8…``,
  landlines ``021-…`` / ``(021) …`` — with spaces, dashes or dots between digit groups (9-15 digits in
  all), and WhatsApp links (``wa.me/…``, ``api.whatsapp.com/send?phone=…``).
- ``[EMAIL]``: e-mail addresses, also the usual disguises ``nama at gmail dot com``,
  ``nama[at]gmail[dot]com``, ``nama (at) gmail.com``, ``nama @ gmail . com``. "at" and "dot" are not
  Indonesian words, so reading them as ``@`` and ``.`` between word-like parts costs almost nothing.
- ``[AKUN]``: ``@handles`` and profile links (instagram.com/…, x.com/…, t.me/…, facebook.com/…,
  tiktok.com/@…). Handles in ``keep_handles`` (the city's official accounts) stay: they name an
  office, not a person.
- ``[NIK]``: a 16-digit number (the national identity number has 16 digits).

Algorithm: links first (a WhatsApp link holds a phone number, a profile link a handle), then e-mails
(before handles, so ``budi@gmail.com`` is one e-mail and not a handle), then phones, then handles, then
NIK. A phone candidate is a run of digit groups that starts with ``+62``, ``62`` followed by ``8``, or
``0`` followed by a non-zero digit, not glued to a preceding letter or digit; the longest leading
part of the run with 9-15 digits is masked, so a date or count typed right after a number stays.
Amounts (``Rp 62.000.000``), RT/RW numbers, dates and Kemendagri area codes do not match. Masking over
masks rather than under: a government landline in the text is masked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PHONE = "[TELEPON]"
EMAIL = "[EMAIL]"
HANDLE = "[AKUN]"
NIK = "[NIK]"

MIN_PHONE_DIGITS = 9  # 0 + area code 2 digits + 6-digit local number is the shortest landline
MAX_PHONE_DIGITS = 15  # E.164 maximum (with the country code 62)
MAX_NATIONAL_DIGITS = 13  # 0 + the longest mobile number (08xx-xxxx-xxxxx)

_WA_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:wa\.me/\+?\d[\d\-]*|(?:api|web)\.whatsapp\.com/send/?\?phone=\+?\d+\S*)",
    re.IGNORECASE,
)
_PROFILE_LINK = re.compile(
    r"(?:https?://)?(?:www\.|m\.)?"
    r"(?:instagram\.com|instagr\.am|twitter\.com|x\.com|facebook\.com|fb\.com|t\.me|tiktok\.com|threads\.net)"
    r"/@?[\w.\-]+\S*",
    re.IGNORECASE,
)
_LOCAL = r"(?<![\w.+\-])[\w.+\-]*\w"
_LABEL = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
_AT = r"(?:\s{0,3}@\s{0,3}|\s{0,3}[\[({<]\s{0,3}(?:at|et)\s{0,3}[\])}>]\s{0,3})"
_DOT = (
    r"(?:\s{0,3}\.\s{0,3}|\s{0,3}[\[({<]\s{0,3}(?:dot|titik)\s{0,3}[\])}>]\s{0,3}"
    r"|\s{1,3}(?:dot|titik)\s{1,3})"
)
_EMAIL = re.compile(rf"{_LOCAL}{_AT}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[a-z]{{2,12}}\b", re.IGNORECASE)
# The bare word "at" ("nama at gmail dot com") only before a usual mail domain ending, so a sentence
# such as "kumpul at halte.Tolong" is left alone.
_TLDS = r"(?:com|net|org|id|co|info|me|io|edu|gov|biz)"
_EMAIL_WORDS = re.compile(
    rf"{_LOCAL}\s{{1,3}}at\s{{1,3}}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLDS}\b", re.IGNORECASE
)
# A run of digit groups: +62 / 62 / 0 start, groups joined by at most one dash or dot with optional spaces
# (or by spaces), an area code possibly in parentheses; at most 20 digits, so a run stays short.
_SEP = r"[ \t]{0,3}[.\-]?[ \t]{0,3}"
_PHONE_RUN = re.compile(
    rf"(?<![\w+])(?:\+[ \t]{{0,3}}62(?:{_SEP}\(0\))?|\(0(?=\d{{1,4}}\))|62(?={_SEP}\(?8)|0(?=[1-9]))"
    rf"(?:{_SEP}\)?\(?{_SEP}\d){{1,20}}(?!\w)"
)
_GROUP = re.compile(r"\d+")
_HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)(?![\w@])")
_NIK = re.compile(r"(?<![\w.\-])\d{16}(?![\w])")


def mask_contacts(text: str, keep_handles: Iterable[str] = ()) -> str:
    """``text`` with phone numbers, e-mail addresses, social accounts and NIK replaced by placeholders.

    ``keep_handles``: handles (with or without ``@``, any case) that name an office and may stay."""
    if not text:
        return text
    keep = {h.lstrip("@").lower() for h in keep_handles}
    out = _WA_LINK.sub(PHONE, text)
    out = _PROFILE_LINK.sub(HANDLE, out)
    out = _EMAIL.sub(EMAIL, out)
    out = _EMAIL_WORDS.sub(EMAIL, out)
    out = _mask_phones(out)
    out = _HANDLE.sub(lambda m: m.group(0) if m.group(1).lower() in keep else HANDLE, out)
    return _NIK.sub(NIK, out)


def _mask_phones(text: str) -> str:
    out: list[str] = []
    pos = 0
    while (m := _PHONE_RUN.search(text, pos)) is not None:
        end = _phone_end(m.group(0))
        if end is None:
            out.append(text[pos : m.end()])
            pos = m.end()
        else:
            # What follows the phone in the run (e.g. a date typed after it) is searched again.
            out += [text[pos : m.start()], PHONE]
            pos = m.start() + end
    out.append(text[pos:])
    return "".join(out)


def _phone_end(run: str) -> int | None:
    """Where the longest leading part of a candidate run with a phone's number of digits ends."""
    most = MAX_NATIONAL_DIGITS if run.lstrip("(").startswith("0") else MAX_PHONE_DIGITS
    end = None
    digits = 0
    for g in _GROUP.finditer(run):
        digits += len(g.group(0))
        if digits > most:
            break
        if digits >= MIN_PHONE_DIGITS:
            end = g.end()
    return end
