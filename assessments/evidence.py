"""Why a file cannot be deleted: it is the evidence of a record that was submitted, verified or completed.

Registered with `branches.services.EVIDENCE_CHECKS` (AppConfig.ready); one query per kind of record, each on an
index of the evidence column.
"""

from django.utils.translation import gettext as _

from assessments.models import (
    AssessmentState,
    Finding,
    FindingState,
    ItemStatus,
    Rating,
    RatingState,
    ResponsibilityItem,
    Score,
)

# A record in these states stands on its evidence: the file stays until the record is sent back or reopened.
FINDING_STATES = (FindingState.SUBMITTED, FindingState.VERIFIED)
ASSESSMENT_STATES = (
    AssessmentState.SUBMITTED,
    AssessmentState.UNDER_REVIEW,
    AssessmentState.APPROVED,
    AssessmentState.PUBLISHED,
)
RATING_STATES = (RatingState.CLOSED, RatingState.PUBLISHED)


def kept_for(attachment):
    if Finding.objects.filter(evidence_file=attachment, state__in=FINDING_STATES).exists():
        return _("This file is the evidence of a rectification that was submitted or verified; it cannot be deleted.")
    if ResponsibilityItem.objects.filter(evidence_file=attachment, status=ItemStatus.DONE).exists():
        return _("This file is the evidence of a completed duty; it cannot be deleted.")
    if Score.objects.filter(evidence_file=attachment, assessment__state__in=ASSESSMENT_STATES).exists():
        return _("This file is the evidence of a self-assessment submitted for acceptance; it cannot be deleted.")
    if Rating.objects.filter(report_files=attachment, state__in=RATING_STATES).exists():
        return _("This file is part of the report of a rating that has closed; it cannot be deleted.")
    return None
