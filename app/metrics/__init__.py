"""Loyalty metric formulas as pure functions.

SQL does the counting, Python does the formula: metric jobs aggregate
visits and survey answers per clinic/period/segment, then call these
functions on the counts and sums. Nothing here touches the database or
Flask. Every metric returns ``None`` where it is undefined (no data), never
a misleading 0. Definitions, sources and worked examples: ``docs/metrics.md``.

Modules: ``nps``, ``csat``, ``loyalty_index``, ``retention``, ``ltv``,
``programme``, ``scorecard``, ``periods``, ``compare`` and the shared
``intervals``.
"""

from app.metrics.compare import Change, compare
from app.metrics.csat import CsatResult, csat, csat_by_aspect, csat_from_counts
from app.metrics.intervals import Interval, wilson_interval
from app.metrics.loyalty_index import (
    LoyaltyComponents,
    LoyaltyIndex,
    LoyaltyWeights,
    loyalty_index,
)
from app.metrics.ltv import LtvEstimate, ltv, observed_cohort_ltv, revenue_per_patient
from app.metrics.nps import NpsCounts, NpsResult, answer_distribution, nps, nps_from_distribution
from app.metrics.periods import Period, PeriodKind, parse_period, reportable
from app.metrics.programme import ProgrammeEvaluation, ProgrammeType, evaluate_programme
from app.metrics.retention import (
    ChurnInflow,
    churn_vs_inflow,
    lost_patients,
    multi_service_share,
    repeat_visit_rate,
    retention_rate,
)
from app.metrics.scorecard import Scorecard, ScorecardSettings, scorecard

__all__ = [
    "Change",
    "ChurnInflow",
    "CsatResult",
    "Interval",
    "LoyaltyComponents",
    "LoyaltyIndex",
    "LoyaltyWeights",
    "LtvEstimate",
    "NpsCounts",
    "NpsResult",
    "Period",
    "PeriodKind",
    "ProgrammeEvaluation",
    "ProgrammeType",
    "Scorecard",
    "ScorecardSettings",
    "answer_distribution",
    "churn_vs_inflow",
    "compare",
    "csat",
    "csat_by_aspect",
    "csat_from_counts",
    "evaluate_programme",
    "lost_patients",
    "loyalty_index",
    "ltv",
    "multi_service_share",
    "nps",
    "nps_from_distribution",
    "observed_cohort_ltv",
    "parse_period",
    "reportable",
    "repeat_visit_rate",
    "retention_rate",
    "revenue_per_patient",
    "scorecard",
    "wilson_interval",
]
