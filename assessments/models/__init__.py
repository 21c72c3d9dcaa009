from assessments.models.duties import (
    BuildingArea,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    TemplateItem,
)
from assessments.models.inspections import Finding, FindingState, FindingTransition, Inspection, Severity

__all__ = [
    "BuildingArea",
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
