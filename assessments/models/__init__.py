from assessments.models.duties import (
    BuildingArea,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    TemplateItem,
)
from assessments.models.inspections import Finding, FindingState, FindingTransition, Inspection, Severity
from assessments.models.summaries import DutyMonthSummary

__all__ = [
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
