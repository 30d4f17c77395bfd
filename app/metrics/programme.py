"""Loyalty programme evaluation: redemption, retention and profit before/after, ROI.

The clinic enters the programme type, its running costs and the revenue it
gave up (discounts, redeemed points, cashback, free membership services), and
SQL supplies bonus totals, retention rates and profits of two comparable
periods: before and after the launch. Definitions::

    programme cost     = running costs + forgone revenue
    redemption rate    = bonuses redeemed / bonuses awarded
    incremental profit = profit after launch - profit before launch
    ROI                = (incremental profit - programme cost) / programme cost

Profits must be *before* programme costs (gross of the discounts and running
costs), otherwise the cost is subtracted twice; pass
``profit_after_is_net=True`` when the "after" profit is the clinic's actual
bottom line and the cost will be added back.

The ROI is the standard return-on-investment ratio; the before/after
difference attributes the whole change to the programme (no control
group), so compare periods of equal length and season - e.g. a quarter with
the same quarter a year earlier.

Warning: when fewer than 20 % of programme participants are retained the
programme is not keeping patients, whatever its ROI says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.metrics.compare import Change, compare

PARTICIPANT_RETENTION_WARNING_BELOW = 0.20

# Warning codes; the interface translates them.
WARNING_LOW_PARTICIPANT_RETENTION = "low_participant_retention"


class ProgrammeType(StrEnum):
    """Kinds of loyalty programme a clinic can run."""

    DISCOUNT_TIERS = "discount_tiers"
    POINTS = "points"
    CASHBACK = "cashback"
    MEMBERSHIP = "membership"


@dataclass(frozen=True)
class ProgrammeEvaluation:
    """Outcome of a loyalty programme; ``None`` marks a figure that cannot be computed."""

    programme_type: ProgrammeType
    programme_cost: float
    redemption_rate: float | None
    retention: Change
    profit: Change
    incremental_profit: float | None
    roi: float | None
    participant_retention: float | None
    warnings: tuple[str, ...]

    @property
    def low_participant_retention(self) -> bool:
        """True when participants' retention is below the warning threshold."""
        return WARNING_LOW_PARTICIPANT_RETENTION in self.warnings


def redemption_rate(bonuses_awarded: float, bonuses_redeemed: float) -> float | None:
    """Bonuses redeemed / bonuses awarded in the same period; ``None`` if none were awarded.

    Can exceed 1 when patients spend a balance earned before the period.
    """
    if bonuses_awarded < 0 or bonuses_redeemed < 0:
        raise ValueError("bonus amounts must be >= 0")
    if bonuses_awarded == 0:
        return None
    return bonuses_redeemed / bonuses_awarded


def roi(incremental_profit: float | None, programme_cost: float) -> float | None:
    """``(incremental profit - programme cost) / programme cost``; ``None`` if undefined.

    Undefined without a profit comparison or when the programme cost is 0.
    0.5 means every rouble spent came back with 50 kopecks on top; -1 means
    the programme brought no extra profit at all.
    """
    if programme_cost < 0:
        raise ValueError("programme_cost must be >= 0")
    if incremental_profit is None or programme_cost == 0:
        return None
    return (incremental_profit - programme_cost) / programme_cost


def evaluate_programme(
    programme_type: ProgrammeType | str,
    *,
    running_cost: float,
    forgone_revenue: float,
    bonuses_awarded: float = 0.0,
    bonuses_redeemed: float = 0.0,
    retention_before: float | None = None,
    retention_after: float | None = None,
    profit_before: float | None = None,
    profit_after: float | None = None,
    participant_retention: float | None = None,
    profit_after_is_net: bool = False,
    warn_below: float = PARTICIPANT_RETENTION_WARNING_BELOW,
) -> ProgrammeEvaluation:
    """Evaluate a loyalty programme from the clinic's inputs and aggregated figures.

    Cost = running cost + forgone revenue; redemption = redeemed / awarded;
    retention and profit compared before vs after launch; ROI =
    (incremental profit - cost) / cost. Adds the warning
    ``low_participant_retention`` when ``participant_retention`` is below
    ``warn_below`` (20 %). See the module docstring for the assumptions.
    """
    programme_type = ProgrammeType(programme_type)
    if running_cost < 0 or forgone_revenue < 0:
        raise ValueError("costs must be >= 0")
    for name, rate in (
        ("retention_before", retention_before),
        ("retention_after", retention_after),
        ("participant_retention", participant_retention),
    ):
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be within 0..1")
    cost = running_cost + forgone_revenue
    if profit_after is not None and profit_after_is_net:
        # Put the programme's own cost back so it is counted once, in ROI.
        profit_after = profit_after + cost
    profit = compare(profit_after, profit_before)
    warnings: list[str] = []
    if participant_retention is not None and participant_retention < warn_below:
        warnings.append(WARNING_LOW_PARTICIPANT_RETENTION)
    return ProgrammeEvaluation(
        programme_type=programme_type,
        programme_cost=cost,
        redemption_rate=redemption_rate(bonuses_awarded, bonuses_redeemed),
        retention=compare(retention_after, retention_before),
        profit=profit,
        incremental_profit=profit.delta,
        roi=roi(profit.delta, cost),
        participant_retention=participant_retention,
        warnings=tuple(warnings),
    )
