"""The webhook signature check on hostile headers: every refusal is a ``SignatureError`` (a 401 at the
edge), never another exception (a 500)."""

import pytest

from aduan_kit.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify

SECRET = "s" * 32
BODY = b'{"id":"x"}'
NOW = 1_790_000_000


def test_a_fresh_signature_passes_at_both_edges_of_the_window() -> None:
    for offset in (-300, 0, 300):
        h = sign(SECRET, BODY, NOW + offset)
        verify(SECRET, BODY, h[TIMESTAMP_HEADER], h[SIGNATURE_HEADER], now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400 * 365])
def test_a_timestamp_outside_the_window_is_refused_on_both_sides(offset: int) -> None:
    """Checked to fail: with the window check changed to ``current - ts > tolerance`` (past only), the
    future offsets were accepted."""
    h = sign(SECRET, BODY, NOW + offset)
    with pytest.raises(SignatureError, match="outside the 300 s window"):
        verify(SECRET, BODY, h[TIMESTAMP_HEADER], h[SIGNATURE_HEADER], now=NOW)


@pytest.mark.parametrize("signature", ["sha256=é", "sha256=" + "ä" * 64, "\u200bsha256=00", "sha256=\udcff"])
def test_a_non_ascii_signature_is_a_signature_error(signature: str) -> None:
    """Checked to fail: without the ASCII check, ``hmac.compare_digest`` raised TypeError."""
    ts = str(NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, ts, signature, now=NOW)


@pytest.mark.parametrize(
    "timestamp", ["１７９００００００", "+1790000000", " 1790000000", "1e9", "-1", "9" * 40]
)
def test_a_timestamp_that_is_not_plain_ascii_digits_is_refused(timestamp: str) -> None:
    """Checked to fail: with the old ``int(timestamp)`` parse, the full-width, ``+`` and space forms
    were read as numbers (the ``+`` and space forms then passed)."""
    with pytest.raises(SignatureError, match="not Unix seconds"):
        verify(SECRET, BODY, timestamp, sign(SECRET, BODY, NOW)[SIGNATURE_HEADER], now=NOW)
