"""Licence rules: modules, seats, and what a lapsed or suspended clinic may do.

Nothing is ever deleted because a licence lapsed: after the grace period the
workspace turns read-only (export still allowed), and patients' submissions
keep being stored whatever the state.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

MODULES = ("reputation", "loyalty_programme", "api")
PLANS = {
    # plan: (seats, modules)
    "basic": (3, ()),
    "standard": (10, ("reputation",)),
    "network": (50, ("reputation", "loyalty_programme", "api")),
}
DEFAULT_PLAN = "standard"


class LicenceState(str, Enum):
    ACTIVE = "active"
    GRACE = "grace"
    READ_ONLY = "read_only"
    SUSPENDED = "suspended"
    NOT_STARTED = "not_started"


@dataclass(frozen=True)
class LicenceStatus:
    """A licence's state on a given day, with what it allows."""

    state: LicenceState
    days_left: int
    grace_until: date | None

    @property
    def can_write(self) -> bool:
        """Managers may change data (cases, settings, invitations)."""
        return self.state in (LicenceState.ACTIVE, LicenceState.GRACE)

    @property
    def sends_notifications(self) -> bool:
        """Digests and alerts go out (never for a suspended clinic)."""
        return self.state in (LicenceState.ACTIVE, LicenceState.GRACE, LicenceState.READ_ONLY)


def licence_status(licence, today: date, grace_days: int = 14) -> LicenceStatus:
    """Classify a licence on ``today`` (the clinic's local date)."""
    if licence is None:
        return LicenceStatus(LicenceState.READ_ONLY, 0, None)
    grace_until = licence.ends_on + timedelta(days=grace_days)
    if licence.suspended:
        return LicenceStatus(LicenceState.SUSPENDED, 0, grace_until)
    if today < licence.starts_on:
        return LicenceStatus(LicenceState.NOT_STARTED, (licence.ends_on - today).days, grace_until)
    if today <= licence.ends_on:
        return LicenceStatus(LicenceState.ACTIVE, (licence.ends_on - today).days, grace_until)
    if today <= grace_until:
        return LicenceStatus(LicenceState.GRACE, (grace_until - today).days, grace_until)
    return LicenceStatus(LicenceState.READ_ONLY, 0, grace_until)


def has_module(licence, module: str) -> bool:
    """Whether the clinic's licence includes a module."""
    return licence is not None and module in (licence.modules or [])


def plan_defaults(plan: str) -> tuple[int, tuple[str, ...]]:
    """Seats and modules a plan comes with."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")
    return PLANS[plan]
