"""Per-clinic settings: a typed object stored as JSON on the clinic, with defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class ClinicSettings:
    """Everything a clinic tunes about how Vernost judges and notifies.

    Unknown keys in stored JSON are ignored and missing keys take defaults, so
    adding a setting never needs a data migration.
    """

    # Risk at the door: NPS at or below this is at risk; any aspect at or below that too.
    nps_risk_max: int = 6
    aspect_risk_max: int = 2
    # How long a case may stay open before it is overdue.
    critical_case_hours: int = 12
    at_risk_case_hours: int = 72
    # Never show a scorecard number for fewer responses than this.
    min_sample: int = 30
    # A patient with no visit for this long counts as lost.
    lost_after_months: int = 12
    # Patients' contact details are erased from responses older than this (unless a case is open).
    contact_retention_months: int = 24
    # The daily digest goes out at this local hour.
    digest_hour: int = 12
    # Public review pages offered to every patient on the thank-you page.
    review_links: list[dict] = field(default_factory=list)
    # Loyalty index weights (see docs/metrics.md).
    loyalty_weights: dict[str, float] = field(default_factory=dict)
    # Loyalty programme the clinic runs (evaluated on the dashboard with the loyalty_programme module):
    # type (app.metrics.programme.ProgrammeType, "" = none), launch date YYYY-MM-DD, and per-period
    # running costs and forgone revenue in whole roubles.
    programme_type: str = ""
    programme_launched_on: str = ""
    programme_running_cost: int = 0
    programme_forgone_revenue: int = 0
    # Everyone in the clinic must log in with a code from an authenticator app too.
    require_two_factor: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "ClinicSettings":
        """Settings from stored JSON; bad or unknown values fall back to defaults."""
        data = data or {}
        defaults = cls()
        values = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            default = getattr(defaults, f.name)
            if isinstance(default, bool):
                if isinstance(value, bool):
                    values[f.name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, type(default)):
                try:
                    value = int(value) if isinstance(default, int) and isinstance(value, str) else None
                except ValueError:
                    value = None
                if value is None:
                    continue
            values[f.name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def clinic_settings(tenant) -> ClinicSettings:
    """The typed settings of a clinic."""
    return ClinicSettings.from_json(tenant.settings)


def update_settings(tenant, **changes: Any) -> ClinicSettings:
    """Apply changes to a clinic's settings (validated through ClinicSettings)."""
    merged = {**clinic_settings(tenant).to_json(), **changes}
    settings = ClinicSettings.from_json(merged)
    tenant.settings = settings.to_json()
    return settings
