from assessments.models.duties import (
    BuildingArea,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    TemplateItem,
)
from assessments.models.inspections import Finding, FindingState, FindingTransition, Inspection, Severity
from assessments.models.rounds import (
    Assessment,
    AssessmentRound,
    AssessmentState,
    AssessmentStep,
    RoundState,
    Score,
    SurveyResult,
)
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
    "Assessment",
    "AssessmentRound",
    "AssessmentState",
    "AssessmentStep",
    "RoundState",
    "Score",
    "SurveyResult",
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
