"""An RFC 822 message and its translation to ``RawEmail``: pure functions over the stdlib ``email`` package.

The text is the plain-text body (or the HTML body reduced to text). Attachment bytes are not carried:
the raw event can only reference an attachment by URL and this service stores no files, so each one is
listed (name, type, size, MIME section) in ``raw.skipped_attachments``; the bytes stay in the mailbox.

Mail that is not a citizen's message is recognised here (``skip_reason``): auto-replies (RFC 3834
``Auto-Submitted``, ``X-Autoreply``/``X-Autorespond``, ``Precedence: bulk|junk|auto_reply|list``) and
bounces (``multipart/report`` delivery reports, mail from ``MAILER-DAEMON``/``postmaster``). A reply to
one of our notifications (``In-Reply-To``/``References`` naming ``<aduan.{report_id}.{suffix}@{domain}>``,
the notifier's Message-ID) is a follow-up of that report (``follow_up_of``).
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any

from aduan_kit.ingest import PayloadError
from aduan_schemas.events import MAX_SHORT, MAX_TEXT, RawEmail, Reporter

MAX_HEADERS = 100
MAX_HEADER_VALUE = 1_000
MAX_LISTED_ATTACHMENTS = 50

# The stdlib parser is lenient but some accessors raise assorted errors on hostile input; those are
# treated as a missing or unreadable part of the message.
_EMAIL_ERRORS = (ValueError, TypeError, LookupError, AttributeError, AssertionError)


# A Message-ID the notifier gives each message it sends: aduan.<report id>.<suffix>@<domain>.
_NOTIFICATION_ID = re.compile(
    r"<aduan\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[^@<>\s]+@[^<>\s]+>",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "list"})
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")


def read_message(body: bytes) -> EmailMessage:
    """Parse raw bytes as an RFC 822 message. Raises ``PayloadError`` for an empty body."""
    if not body.strip():
        raise PayloadError("empty message")
    return BytesParser(policy=policy.default).parsebytes(body)


def parse_email(body: bytes, now: datetime) -> RawEmail:
    """A raw RFC 822 message -> ``RawEmail``. Raises ``PayloadError``/``ValidationError`` when bad, and
    ``PayloadError`` for an auto-reply or bounce (not a citizen's message)."""
    msg = read_message(body)
    reason = skip_reason(msg)
    if reason is not None:
        raise PayloadError(f"not a report: {reason}")
    return to_raw(msg, now)


def skip_reason(msg: EmailMessage) -> str | None:
    """Why this message is not a citizen's message (an auto-reply or a bounce), or None."""
    auto = (header_text(msg, "Auto-Submitted") or "no").split(";")[0].strip().lower()
    if auto != "no":
        return f"auto-reply (Auto-Submitted: {auto[:50]})"
    for name in ("X-Autoreply", "X-Autorespond"):
        if header_text(msg, name):
            return f"auto-reply ({name})"
    precedence = (header_text(msg, "Precedence") or "").strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"auto-reply (Precedence: {precedence})"
    if msg.get_content_type() == "multipart/report":
        return "bounce (multipart/report)"
    reporter = sender(msg)
    local = (reporter.email or "").split("@")[0].lower() if reporter else ""
    if local in _BOUNCE_SENDERS:
        return f"bounce (from {local})"
    return None


def follow_up_of(msg: EmailMessage) -> str | None:
    """The report a reply follows up: the id in the newest of our notification Message-IDs it names
    (``In-Reply-To`` first, then ``References`` from last to first)."""
    for name in ("In-Reply-To", "References"):
        found = _NOTIFICATION_ID.findall(header_text(msg, name) or "")
        if found:
            return str(found[-1]).lower()
    return None


def to_raw(msg: EmailMessage, now: datetime, extra: dict[str, Any] | None = None) -> RawEmail:
    """A parsed message -> ``RawEmail``; ``extra`` is added to ``raw`` (e.g. where the mail was read)."""
    message_id = message_id_of(msg)
    subject = header_text(msg, "Subject")
    text = body_text(msg) or subject or ""
    raw: dict[str, Any] = {
        "headers": raw_headers(msg),
        "content_type": msg.get_content_type(),
        "skipped_attachments": skipped_attachments(msg),
    }
    if len(text) > MAX_TEXT:
        raw["text_truncated_from"] = len(text)
    raw.update(extra or {})
    return RawEmail(
        channel_message_id=message_id,
        received_at=sent_at(msg, now),
        text=text[:MAX_TEXT],
        subject_line=subject[:MAX_SHORT] if subject else None,
        reporter=sender(msg),
        raw=raw,
        follow_up_of=follow_up_of(msg),
    )


def header_text(msg: EmailMessage, name: str) -> str | None:
    """A header's decoded value (RFC 2047 words decoded), whitespace-normalised; None if absent/unreadable."""
    try:
        value = msg.get(name)
    except _EMAIL_ERRORS:
        return None
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def message_id_of(msg: EmailMessage) -> str:
    """The Message-ID without its angle brackets: the channel message id, so re-delivery is recognised."""
    value = header_text(msg, "Message-ID")
    ident = value.strip().strip("<>").strip() if value else ""
    if not ident:
        raise PayloadError("invalid payload: a Message-ID header is required")
    return ident


def sent_at(msg: EmailMessage, now: datetime) -> datetime:
    """The Date header (a date without zone counts as UTC); ``now`` if absent, unreadable or in the future."""
    try:
        header = msg.get("Date")
        value = getattr(header, "datetime", None)
    except _EMAIL_ERRORS:
        value = None
    if not isinstance(value, datetime):
        return now
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return min(value, now)


def sender(msg: EmailMessage) -> Reporter | None:
    """The first From address: display name and address."""
    try:
        header = msg.get("From")
        addresses = tuple(getattr(header, "addresses", ()))
    except _EMAIL_ERRORS:
        return None
    if not addresses:
        return None
    first = addresses[0]
    email = first.addr_spec if first.username else None
    name = " ".join(first.display_name.split()) or None
    if email is None and name is None:
        return None
    return Reporter(
        name=name[:MAX_SHORT] if name else None,
        email=email if email and len(email) <= MAX_SHORT else None,
    )


def body_text(msg: EmailMessage) -> str:
    """The plain-text body, else the HTML body reduced to text; empty when there is neither."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except _EMAIL_ERRORS:
        return ""
    if not isinstance(part, EmailMessage):
        return ""
    content = decoded(part)
    if part.get_content_subtype() == "html":
        content = html_to_text(content)
    return tidy(content)


def decoded(part: EmailMessage) -> str:
    """A text part's content; undecodable bytes become U+FFFD rather than failing the report."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except _EMAIL_ERRORS:
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return payload.decode(charset, errors="replace")


def tidy(text: str) -> str:
    """Normalise line endings, trim lines, keep at most one blank line in a row."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _HtmlText(HTMLParser):
    BLOCKS = frozenset(
        [
            "address",
            "article",
            "aside",
            "blockquote",
            "br",
            "dd",
            "div",
            "dl",
            "dt",
            "figcaption",
            "footer",
            "form",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "header",
            "hr",
            "li",
            "main",
            "nav",
            "ol",
            "p",
            "pre",
            "section",
            "table",
            "td",
            "th",
            "tr",
            "ul",
        ]
    )
    HIDDEN = frozenset({"head", "script", "style", "template", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: scripts, styles and head dropped, blocks on their own lines."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return tidy("\n".join(line.strip() for line in "".join(parser.parts).split("\n")))


def raw_headers(msg: EmailMessage) -> list[list[str]]:
    """The headers as received (undecoded, bounded), for provenance."""
    return [[name, str(value)[:MAX_HEADER_VALUE]] for name, value in list(msg.raw_items())[:MAX_HEADERS]]


def skipped_attachments(msg: EmailMessage) -> list[dict[str, Any]]:
    """Name, type, decoded size and IMAP section (``BODY[<section>]``) of each attachment, whose bytes
    this service does not carry."""
    out: list[dict[str, Any]] = []
    try:
        for section, part in leaf_parts(msg):
            if len(out) >= MAX_LISTED_ATTACHMENTS:
                break
            if not part.is_attachment() and part.get_content_maintype() in ("text", "multipart"):
                continue
            payload = part.get_payload(decode=True)
            out.append(
                {
                    "filename": (part.get_filename() or "")[:MAX_SHORT] or None,
                    "content_type": part.get_content_type(),
                    "size": len(payload) if isinstance(payload, bytes) else None,
                    "section": section,
                }
            )
    except _EMAIL_ERRORS:
        pass
    return out


def leaf_parts(msg: EmailMessage, prefix: str = "") -> list[tuple[str, EmailMessage]]:
    """Every non-multipart part with its IMAP section number ("1", "2.1", ...; RFC 3501 6.4.5)."""
    if not msg.is_multipart():
        return [(prefix or "1", msg)]
    out: list[tuple[str, EmailMessage]] = []
    for i, part in enumerate(msg.iter_parts(), start=1):
        if isinstance(part, EmailMessage):
            out.extend(leaf_parts(part, f"{prefix}.{i}" if prefix else str(i)))
    return out
