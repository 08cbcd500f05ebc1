"""SLA deadlines shared by the router (stamps them) and the SLA monitor (watches them, restarts them)."""

from aduan_sla.calendar import add_time
from aduan_sla.policy import (
    Policy,
    deadlines,
    policy_for,
    policy_named,
    resolve_deadline,
    respond_deadline,
    warning_time,
)

__all__ = [
    "Policy",
    "add_time",
    "deadlines",
    "policy_for",
    "policy_named",
    "resolve_deadline",
    "respond_deadline",
    "warning_time",
]
