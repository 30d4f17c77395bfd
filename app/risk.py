"""Risk at the door: every response is classified when it is submitted, by the clinic's thresholds."""
from __future__ import annotations

from dataclasses import dataclass

from tenants.settings import ClinicSettings


@dataclass(frozen=True)
class RiskVerdict:
    level: str  # ok | at_risk | critical
    reasons: tuple[str, ...]


def classify_response(nps: int | None, ratings: dict[str, int], urgent: bool,
                      settings: ClinicSettings) -> RiskVerdict:
    """Critical for the red button; at risk for a low NPS or any low aspect score; else ok.

    Defaults: NPS ≤ 6 and any aspect ≤ 2 are at risk (clinic settings change them).
    Reasons are codes such as ``urgent``, ``nps:3``, ``aspect:waiting:1``.
    """
    reasons = []
    if urgent:
        reasons.append("urgent")
    if nps is not None and nps <= settings.nps_risk_max:
        reasons.append(f"nps:{nps}")
    for aspect, score in sorted(ratings.items()):
        if score <= settings.aspect_risk_max:
            reasons.append(f"aspect:{aspect}:{score}")
    if urgent:
        return RiskVerdict("critical", tuple(reasons))
    return RiskVerdict("at_risk" if reasons else "ok", tuple(reasons))
