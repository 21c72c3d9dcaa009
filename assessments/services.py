"""Writes for responsibility lists, inspections and rectification.

Issuing is set-based (one transaction, bulk inserts, idempotent). A finding moves through
its states only along the allowed edges, only by the right role, and only from the version
the user saw (optimistic locking), so two people acting at once cannot overwrite each other.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from assessments.models import (
    Finding,
    FindingState,
    FindingTransition,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    TemplateItem,
)
from branches import access, audit
from branches import services as branch_services
from branches.models import AuditEntry, Organization, OrganizationStatus

ISSUE_BATCH = 5000


@dataclass
class IssueResult:
    lists: int
    items: int
    already: int


def template_issue(*, template, root, by=None):
    """下发: give every matching organization under `root` its own copy of the template's list.

    Organizations that already have this template's list are left alone, so issuing twice
    creates nothing twice. The items are copied: later template edits change no issued list.
    """
    items = list(TemplateItem.objects.filter(template=template).order_by("position", "pk"))
    if not items:
        raise ValidationError(_("The template has no items to issue."))
    targets = Organization.objects.filter(
        path__startswith=root.path, kind=template.organization_kind, status=OrganizationStatus.ACTIVE
    )
    if template.sector:
        targets = targets.filter(sector=template.sector)
    with transaction.atomic():
        have = set(ResponsibilityList.objects.filter(template=template).values_list("organization_id", flat=True))
        now = timezone.now()
        organizations = [org for org in targets.only("pk") if org.pk not in have]
        lists = ResponsibilityList.objects.bulk_create(
            [
                ResponsibilityList(
                    organization=org,
                    year=template.year,
                    template=template,
                    title=template.title,
                    issued_at=now,
                    issued_by=by,
                )
                for org in organizations
            ],
            batch_size=ISSUE_BATCH,
        )
        rows = [
            ResponsibilityItem(
                responsibility_list_id=lst.pk,
                organization_id=lst.organization_id,
                source_id=item.pk,
                area=item.area,
                text=item.text,
                due_on=item.due_on,
                responsible_post=item.responsible_post,
            )
            for lst in lists
            for item in items
        ]
        ResponsibilityItem.objects.bulk_create(rows, batch_size=ISSUE_BATCH)
        if lists:
            # Thousands of copies are one event on record, against the template.
            audit.record_summary(
                template, AuditEntry.Action.UPDATE, {"issued_to": len(lists), "items": len(rows), "root": root.code}
            )
    return IssueResult(lists=len(lists), items=len(rows), already=len(have))


def _check_due(due_on, year, field="due_on"):
    if due_on.year != year:
        raise ValidationError({field: _("The due date must fall within %(year)d.") % {"year": year}})


def item_add(*, organization, year, data, by=None):
    """An item of the organization's own list for the year (created on first use)."""
    _check_due(data["due_on"], year)
    own, _created = ResponsibilityList.objects.get_or_create(
        organization=organization, year=year, template=None, defaults={"title": _("Own duties")}
    )
    item = ResponsibilityItem(
        responsibility_list=own,
        organization=organization,
        area=data["area"],
        text=data["text"],
        due_on=data["due_on"],
        responsible_post=data.get("responsible_post") or "secretary",
    )
    item.full_clean()
    item.save()
    return item


def item_complete(*, item, by, version, note="", upload=None, meeting=None):
    """Mark a duty done with evidence: a note, a file or a meeting of the same organization."""
    if not access.can(by, access.EDIT, item.organization):
        raise PermissionDenied
    if not (note.strip() or upload or meeting):
        raise ValidationError({"note": _("Give evidence: a note, a file or a logged meeting.")})
    if meeting is not None and meeting.organization_id != item.organization_id:
        raise ValidationError({"meeting": _("Choose a meeting of this organization.")})
    evidence = None
    if upload is not None:
        evidence = branch_services.attachment_add(
            organization=item.organization, title=item.text[:120], upload=upload, by=by
        )
    with transaction.atomic():
        changed = ResponsibilityItem.objects.filter(pk=item.pk, version=version, status=ItemStatus.OPEN).update(
            status=ItemStatus.DONE,
            evidence_note=note.strip(),
            evidence_file=evidence,
            evidence_meeting=meeting,
            completed_at=timezone.now(),
            completed_by=by,
            version=F("version") + 1,
        )
        if not changed:
            raise ValidationError(_("Someone else has just changed this item. Reload it to see what changed."))
        audit.record_bulk(
            AuditEntry.Action.UPDATE,
            [
                (
                    item,
                    {
                        "status": [ItemStatus.OPEN, ItemStatus.DONE],
                        "evidence_note": ["", note.strip()],
                    },
                )
            ],
        )
    item.refresh_from_db()
    return item


# --- inspections and findings --------------------------------------------------------

TRANSITIONS = {
    FindingState.OPEN: {FindingState.IN_PROGRESS},
    FindingState.IN_PROGRESS: {FindingState.SUBMITTED},
    FindingState.SUBMITTED: {FindingState.VERIFIED, FindingState.RETURNED},
    FindingState.RETURNED: {FindingState.IN_PROGRESS},
    FindingState.VERIFIED: set(),
}
# Who makes each move: the organization rectifies (edit), the inspectors judge (review or assess).
BY_ORGANIZATION = {FindingState.IN_PROGRESS, FindingState.SUBMITTED}
BY_INSPECTOR = {FindingState.VERIFIED, FindingState.RETURNED}


def may_inspect(user, organization):
    return access.can(user, access.REVIEW, organization) or access.can(user, access.ASSESS, organization)


def may_move(user, finding, to_state):
    if to_state in BY_ORGANIZATION:
        return access.can(user, access.EDIT, finding.organization)
    if to_state in BY_INSPECTOR:
        return may_inspect(user, finding.organization)
    return False


def inspection_create(*, organization, data, by):
    if not may_inspect(by, organization):
        raise PermissionDenied
    if data["held_on"] > timezone.localdate():
        raise ValidationError({"held_on": _("An inspection cannot be recorded before it takes place.")})
    inspection = Inspection(
        organization=organization,
        inspector=by,
        held_on=data["held_on"],
        title=data["title"],
        summary=data.get("summary", ""),
    )
    inspection.full_clean()
    inspection.save()
    return inspection


def finding_add(*, inspection, data, by):
    if not may_inspect(by, inspection.organization):
        raise PermissionDenied
    cadre = data.get("responsible_cadre")
    if cadre is not None and cadre.organization_id != inspection.organization_id:
        raise ValidationError({"responsible_cadre": _("Choose a cadre of the inspected organization.")})
    if data["deadline"] < inspection.held_on:
        raise ValidationError({"deadline": _("The deadline cannot be before the inspection.")})
    finding = Finding(
        inspection=inspection,
        organization=inspection.organization,
        severity=data["severity"],
        description=data["description"],
        required_rectification=data["required_rectification"],
        deadline=data["deadline"],
        responsible_cadre=cadre,
    )
    finding.full_clean()
    finding.save()
    return finding


def finding_move(*, finding, to_state, by, version, note="", upload=None):
    """Move a finding along one allowed edge, by the right role, from the version the user saw."""
    to_state = FindingState(to_state)
    if to_state not in TRANSITIONS[FindingState(finding.state)]:
        raise ValidationError(
            _("A finding that is “%(now)s” cannot become “%(next)s”.")
            % {"now": FindingState(finding.state).label, "next": to_state.label}
        )
    if not may_move(by, finding, to_state):
        raise PermissionDenied(_("Your role cannot make this step."))
    note = note.strip()
    updates = {}
    if to_state == FindingState.SUBMITTED:
        if not note:
            raise ValidationError({"note": _("Describe the rectification done.")})
        if upload is None and finding.evidence_file_id is None:
            raise ValidationError({"file": _("Attach evidence of the rectification (a photo, scan or document).")})
        if upload is not None:
            updates["evidence_file"] = branch_services.attachment_add(
                organization=finding.organization, title=_("Rectification evidence"), upload=upload, by=by
            )
        updates["rectification_note"] = note
    if to_state == FindingState.RETURNED and not note:
        raise ValidationError({"note": _("Say why the rectification is sent back.")})
    if to_state == FindingState.VERIFIED:
        updates["closed_at"] = timezone.now()
    with transaction.atomic():
        changed = Finding.objects.filter(pk=finding.pk, version=version, state=finding.state).update(
            state=to_state, version=F("version") + 1, **updates
        )
        if not changed:
            raise ValidationError(_("Someone else has just acted on this finding. Reload it to see what changed."))
        FindingTransition.objects.create(finding=finding, from_state=finding.state, to_state=to_state, by=by, note=note)
        audit.record_bulk(AuditEntry.Action.UPDATE, [(finding, {"state": [finding.state, to_state.value]})])
    finding.refresh_from_db()
    return finding
