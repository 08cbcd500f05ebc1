"""Who is told, and where: pure functions over events, settings and the SKPD registry."""

from __future__ import annotations

from urllib.parse import urlsplit

from aduan_schemas.city import SkpdRegistry
from aduan_schemas.events import Event, RoutedReport, SlaEvent

PLACEHOLDER = "skpd_code"


def recipient(event: Event) -> str:
    """The SKPD code to notify: a routed report goes to its unit; a breach to its escalation target
    (the parent unit), else to the responsible unit itself."""
    if isinstance(event, RoutedReport):
        return event.skpd_code
    if isinstance(event, SlaEvent):
        return event.escalate_to or event.skpd_code
    raise TypeError(f"no recipient rule for {type(event).__name__}")


def held_for_triage(event: Event) -> bool:
    """A routed report the router was too unsure of: its candidate unit is not told until an operator
    decides (the decision arrives as a new routed report)."""
    return isinstance(event, RoutedReport) and event.needs_triage


def check_template(template: str) -> None:
    """Raise ``ValueError`` unless ``template`` makes an http(s) URL from ``{skpd_code}`` alone."""
    try:
        url = template.format(**{PLACEHOLDER: "x"})
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"webhook URL template may only use {{{PLACEHOLDER}}}: {e}") from e
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("webhook URL template must give an http:// or https:// URL")


def webhook_url(skpd_code: str, template: str | None, registry: SkpdRegistry) -> str | None:
    """The template when configured (one gateway for every unit), else the unit's registered webhook;
    None when neither exists (the unit reads its Kafka topic instead)."""
    if template:
        return template.format(**{PLACEHOLDER: skpd_code})
    unit = registry.by_code.get(skpd_code)
    if unit is None or not unit.contact.webhook_url:
        return None
    return unit.contact.webhook_url


def check_email_template(template: str) -> None:
    """Raise ``ValueError`` unless ``template`` makes an address from ``{skpd_code}`` alone."""
    try:
        address = template.format(**{PLACEHOLDER: "x"})
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"unit email template may only use {{{PLACEHOLDER}}}: {e}") from e
    if address.count("@") != 1 or address.startswith("@") or address.endswith("@"):
        raise ValueError("unit email template must give one address (local@domain)")


def unit_email(skpd_code: str, template: str | None, registry: SkpdRegistry) -> str | None:
    """The template when configured (one mailbox pattern for every unit), else the unit's registered
    address; None when neither exists."""
    if template:
        return template.format(**{PLACEHOLDER: skpd_code})
    unit = registry.by_code.get(skpd_code)
    return unit.contact.email if unit is not None and unit.contact.email else None
