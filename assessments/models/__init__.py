from assessments.models.duties import (
    BuildingArea,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    TemplateItem,
)
from assessments.models.inspections import Finding, FindingState, FindingTransition, Inspection, Severity
from assessments.models.rubrics import (
    Aggregation,
    GradeBand,
    Indicator,
    IndicatorKind,
    Rubric,
    RubricState,
    ScoringRule,
)
from assessments.models.summaries import DutyMonthSummary

__all__ = [
    "Aggregation",
    "GradeBand",
    "Indicator",
    "IndicatorKind",
    "Rubric",
    "RubricState",
    "ScoringRule",
    "BuildingArea",
    "DutyMonthSummary",
    "Finding",
    "FindingState",
    "FindingTransition",
    "Inspection",
    "ItemStatus",
    "ResponsibilityItem",
    "ResponsibilityList",
    "ResponsibilityTemplate",
    "Severity",
    "TemplateItem",
]
