"""What a patient's status page says about their urgent request."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PatientStatus:
    step: str  # received | seen | in_progress | resolved
    seen_at: datetime | None
    resolved_at: datetime | None


def patient_facing_status(response) -> PatientStatus:
    """The request's progress as the patient may see it: no names, no internal notes."""
    case = getattr(response, "case", None)
    if case is not None and case.status == "resolved":
        return PatientStatus("resolved", response.seen_at, case.resolved_at)
    if case is not None and case.status in ("in_progress", "waiting"):
        return PatientStatus("in_progress", response.seen_at, None)
    if response.seen_at is not None:
        return PatientStatus("seen", response.seen_at, None)
    return PatientStatus("received", None, None)
