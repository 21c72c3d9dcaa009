from branches.models.audit import AuditEntry, SecurityEvent, SecurityEventKind, audit_organization_id
from branches.models.files import Attachment
from branches.models.imports import ImportState, WorkbookImport
from branches.models.meetings import (
    AbsenceReason,
    Attendance,
    Meeting,
    MeetingRequirement,
    MeetingType,
    Period,
    held_on_of,
)
from branches.models.organizations import (
    ALLOWED_PARENT_KINDS,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Sector,
)
from branches.models.people import (
    COMMITTEE_POSTS,
    Cadre,
    CommitteeTerm,
    Employment,
    Gender,
    Member,
    MemberCategory,
    MemberStatus,
    Post,
    TermLengthRule,
    TrainingRecord,
)
from branches.models.roles import Role, RoleAssignment
from branches.models.summaries import ComplianceResult, ComplianceSetting, MonthSummary, ResultYear, SummaryRun

__all__ = [
    "AbsenceReason",
    "ComplianceResult",
    "ComplianceSetting",
    "MonthSummary",
    "ResultYear",
    "SummaryRun",
    "Attendance",
    "Meeting",
    "held_on_of",
    "MeetingRequirement",
    "MeetingType",
    "Period",
    "Attachment",
    "ImportState",
    "WorkbookImport",
    "AuditEntry",
    "SecurityEvent",
    "SecurityEventKind",
    "audit_organization_id",
    "COMMITTEE_POSTS",
    "ALLOWED_PARENT_KINDS",
    "Cadre",
    "CommitteeTerm",
    "Employment",
    "Gender",
    "Member",
    "MemberCategory",
    "MemberStatus",
    "Organization",
    "OrganizationKind",
    "OrganizationStatus",
    "Post",
    "Role",
    "RoleAssignment",
    "Sector",
    "TermLengthRule",
    "TrainingRecord",
]
