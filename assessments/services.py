"""Writes for responsibility lists, inspections and rectification.

The service contract of branches.services holds here too: `by=` is required, permission goes through
`access.require`, values are validated before anything is written, and a refusal writes nothing.

Issuing is set-based (one transaction, bulk inserts, idempotent). A finding moves through
its states only along the allowed edges, only by the right role, and only from the version
the user saw (optimistic locking), so two people acting at once cannot overwrite each other.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from assessments import scoring, summaries
from assessments.models import (
    Assessment,
    AssessmentRound,
    Finding,
    FindingState,
    FindingTransition,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    RoundState,
    RubricState,
    TemplateItem,
)
from assessments.models.inspections import BY_INSPECTOR, BY_ORGANIZATION, TRANSITIONS  # declared on the model
from branches import access, audit
from branches import services as branch_services
from branches.models import AuditEntry, Organization, OrganizationKind, OrganizationStatus


@dataclass
class IssueResult:
    lists: int
    items: int
    already: int


def template_issue(*, template, root, by) -> IssueResult:
    """下发: give every matching organization under `root` its own copy of the template's list.

    Two INSERT … SELECT statements, whatever the number of organizations: the lists, then their
    items copied from the template (so later template edits change no issued list). Organizations
    that already hold this template's list are skipped, so issuing twice creates nothing twice.
    The actor reviews both the subtree and the template's owner.
    """
    access.require(by, access.REVIEW, root)
    access.require(by, access.REVIEW, template.owner)
    if not TemplateItem.objects.filter(template=template).exists():
        raise ValidationError(_("The template has no items to issue."))
    lists_table = ResponsibilityList._meta.db_table
    items_table = ResponsibilityItem._meta.db_table
    with transaction.atomic():
        # One issue of a template at a time: a second one waits, then finds the lists there.
        template = type(template).objects.select_for_update().get(pk=template.pk)
        already = ResponsibilityList.objects.filter(template=template).count()
        sector = "AND o.sector = %s" if template.sector else ""
        with connection.cursor() as cursor:
            # Table names come from the models, values are parameters: nothing here is user text.
            cursor.execute(
                f"""INSERT INTO {lists_table} (organization_id, year, template_id, title, issued_at, issued_by_id)
                SELECT o.id, %s, %s, %s, %s, %s FROM {Organization._meta.db_table} o
                WHERE o.path LIKE %s AND o.kind = %s AND o.status = %s {sector}
                AND NOT EXISTS (SELECT 1 FROM {lists_table} l WHERE l.organization_id = o.id AND l.template_id = %s)""",  # noqa: S608
                [
                    template.year,
                    template.pk,
                    template.title,
                    timezone.now(),
                    getattr(by, "pk", None),
                    root.path + "%",
                    template.organization_kind,
                    OrganizationStatus.ACTIVE,
                    *([template.sector] if template.sector else []),
                    template.pk,
                ],
            )
            lists = cursor.rowcount
            # The new lists are the ones of this template without items yet.
            cursor.execute(
                f"""INSERT INTO {items_table} (responsibility_list_id, organization_id, source_id, area, text, due_on,
                    responsible_post, status, evidence_note, version)
                SELECT l.id, l.organization_id, t.id, t.area, t.text, t.due_on, t.responsible_post, %s, '', 1
                FROM {lists_table} l JOIN {TemplateItem._meta.db_table} t ON t.template_id = l.template_id
                WHERE l.template_id = %s
                AND NOT EXISTS (SELECT 1 FROM {items_table} i WHERE i.responsibility_list_id = l.id)""",  # noqa: S608
                [ItemStatus.OPEN, template.pk],
            )
            items = cursor.rowcount
        if items:
            summaries.refresh_issued(template)  # the new duties counted in their months, set-based too
        if lists:
            # Thousands of copies are one event on record, against the template.
            audit.record_summary(
                template, AuditEntry.Action.UPDATE, {"issued_to": lists, "items": items, "root": root.code}
            )
    return IssueResult(lists=lists, items=items, already=already)


@transaction.atomic
def template_save(*, owner, form, items, by):
    """Save a template and its items together; every item must fall due within the template's year.

    The form and formset have validated the values; the owner is checked and set here.
    """
    template = form.save(commit=False)
    if template.pk is None:
        template.owner = owner
    access.require(by, access.REVIEW, template.owner)
    for item_form in items.forms:
        due_on = item_form.cleaned_data.get("due_on")
        if due_on and not item_form.cleaned_data.get("DELETE") and due_on.year != template.year:
            raise ValidationError(
                {
                    "year": _("Every item must fall due within %(year)d; “%(text)s” does not.")
                    % {"year": template.year, "text": item_form.cleaned_data.get("text", "")}
                }
            )
    template.full_clean()
    template.save()
    items.instance = template
    items.save()
    return template


def _check_due(due_on, year, field="due_on"):
    if due_on.year != year:
        raise ValidationError({field: _("The due date must fall within %(year)d.") % {"year": year}})


def item_add(*, organization, year, data, by) -> ResponsibilityItem:
    """An item of the organization's own list for the year (created on first use)."""
    access.require(by, access.EDIT, organization)
    item = ResponsibilityItem(
        organization=organization,
        area=data.get("area"),
        text=data.get("text"),
        due_on=data.get("due_on"),
        responsible_post=data.get("responsible_post") or "secretary",
    )
    item.full_clean(exclude=["responsibility_list"])
    _check_due(item.due_on, year)
    with transaction.atomic():
        item.responsibility_list, _created = ResponsibilityList.objects.get_or_create(
            organization=organization, year=year, template=None, defaults={"title": _("Own duties")}
        )
        item.save()
        summaries.refresh([summaries.key_of_item(item)])
    return item


def _clean_value(model, name, value, key):
    """Run a model field's validators on a value written by an UPDATE (which skips them); errors go on `key`."""
    try:
        return model._meta.get_field(name).clean(value, None)
    except ValidationError as error:
        raise ValidationError({key: error.messages}) from None


def item_complete(*, item, by, version, note="", upload=None, meeting=None):
    """Mark a duty done with evidence: a note, a file or a meeting of the same organization.

    The file is stored only once the item is known to be unchanged since the user saw it, inside the
    transaction; a refusal after that removes it again.
    """
    access.require(by, access.EDIT, item.organization)
    if not (note.strip() or upload or meeting):
        raise ValidationError({"note": _("Give evidence: a note, a file or a logged meeting.")})
    _clean_value(ResponsibilityItem, "evidence_note", note.strip(), "note")
    if meeting is not None and meeting.organization_id != item.organization_id:
        raise ValidationError({"meeting": _("Choose a meeting of this organization.")})
    if upload is not None:
        branch_services.upload_check(item.organization, upload)
    stale = _("Someone else has just changed this item. Reload it to see what changed.")
    with branch_services.atomic_with_files():
        current = ResponsibilityItem.objects.select_for_update().filter(pk=item.pk, version=version)
        if not current.filter(status=ItemStatus.OPEN).exists():
            raise ValidationError(stale)
        evidence = None
        if upload is not None:
            evidence = branch_services.attachment_add(
                organization=item.organization, title=item.text[:120], upload=upload, by=by
            )
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
            raise ValidationError(stale)
        summaries.refresh([summaries.key_of_item(item)])
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


INSPECTORS = (access.REVIEW, access.ASSESS)


def _movers(to_state):
    """The actions that make a move: the organization's (edit) or the inspectors' (review or assess)."""
    if to_state in BY_ORGANIZATION:
        return (access.EDIT,)
    if to_state in BY_INSPECTOR:
        return INSPECTORS
    return ()


def may_inspect(user, organization):
    return any(access.can(user, action, organization) for action in INSPECTORS)


def may_move(user, finding, to_state):
    return any(access.can(user, action, finding.organization) for action in _movers(to_state))


def finding_moves(user, finding):
    """The states `user` can bring the finding to in one action: each allowed move their role makes, and
    "submitted" straight from a state where the rectification has yet to be started."""
    state = FindingState(finding.state)
    moves = {to for to in TRANSITIONS[state] if may_move(user, finding, to)}
    if FindingState.IN_PROGRESS in moves and may_move(user, finding, FindingState.SUBMITTED):
        moves.add(FindingState.SUBMITTED)
    return moves


def inspection_delete(*, inspection, by):
    """Delete an inspection (the admin's delete) with its findings; the months they counted in follow."""
    access.require(by, access.ADMINISTER, inspection.organization)
    with transaction.atomic():
        findings = Finding.objects.filter(inspection=inspection).only("organization_id", "created_at", "closed_at")
        keys = set().union(*(summaries.keys_of_finding(finding) for finding in findings))
        inspection.delete()
        summaries.refresh(keys)


def inspection_create(*, organization, data, by) -> Inspection:
    access.require(by, INSPECTORS, organization)
    if data["held_on"] > timezone.localdate():
        raise ValidationError({"held_on": _("An inspection cannot be recorded before it takes place.")})
    inspection = Inspection(
        organization=organization,
        inspector=by,
        held_on=data["held_on"],
        title=data.get("title", ""),
        summary=data.get("summary", ""),
    )
    inspection.full_clean()
    inspection.save()
    return inspection


def finding_add(*, inspection, data, by) -> Finding:
    access.require(by, INSPECTORS, inspection.organization)
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
    with transaction.atomic():
        finding.save()
        summaries.refresh(summaries.keys_of_finding(finding))
    return finding


def finding_move(*, finding, to_state, by, version, note="", upload=None) -> Finding:
    """Move a finding along one allowed edge, by the right role, from the version the user saw.

    Evidence is stored only once the finding is known to be unchanged, and removed again on a refusal.
    """
    to_state = FindingState(to_state)
    if to_state not in TRANSITIONS[FindingState(finding.state)]:  # refused for everyone, whatever the role
        raise ValidationError(
            _("A finding that is “%(now)s” cannot become “%(next)s”.")
            % {"now": FindingState(finding.state).label, "next": to_state.label}
        )
    access.require(by, _movers(to_state), finding.organization)
    note = _clean_value(FindingTransition, "note", note.strip(), "note")
    updates, evidence = {}, None  # a file is evidence only of a submitted rectification
    if to_state == FindingState.SUBMITTED:
        if not note:
            raise ValidationError({"note": _("Describe the rectification done.")})
        if upload is None and finding.evidence_file_id is None:
            raise ValidationError({"file": _("Attach evidence of the rectification (a photo, scan or document).")})
        evidence = upload
        if evidence is not None:
            branch_services.upload_check(finding.organization, evidence)
        updates["rectification_note"] = note
    if to_state == FindingState.RETURNED and not note:
        raise ValidationError({"note": _("Say why the rectification is sent back.")})
    if to_state == FindingState.VERIFIED:
        updates["closed_at"] = timezone.now()
    stale = _("Someone else has just acted on this finding. Reload it to see what changed.")
    with branch_services.atomic_with_files():
        current = Finding.objects.select_for_update().filter(pk=finding.pk, version=version, state=finding.state)
        if not current.exists():
            raise ValidationError(stale)
        if evidence is not None:
            updates["evidence_file"] = branch_services.attachment_add(
                organization=finding.organization, title=_("Rectification evidence"), upload=evidence, by=by
            )
        changed = Finding.objects.filter(pk=finding.pk, version=version, state=finding.state).update(
            state=to_state, version=F("version") + 1, **updates
        )
        if not changed:
            raise ValidationError(stale)
        FindingTransition.objects.create(finding=finding, from_state=finding.state, to_state=to_state, by=by, note=note)
        closed_at = updates.get("closed_at", finding.closed_at)
        summaries.refresh(
            summaries.keys_of_finding(
                Finding(organization_id=finding.organization_id, created_at=finding.created_at, closed_at=closed_at)
            )
        )
        audit.record_bulk(AuditEntry.Action.UPDATE, [(finding, {"state": [finding.state, to_state.value]})])
    finding.refresh_from_db()
    return finding


def finding_submit(*, finding, by, version, note="", upload=None):
    """Submit a rectification with its evidence. From "open" (or "sent back") it is started in the same
    step: both moves are recorded, each along an allowed edge and by the role that makes it; a refusal of
    either writes nothing."""
    if FindingState(finding.state) == FindingState.IN_PROGRESS:
        return finding_move(
            finding=finding, to_state=FindingState.SUBMITTED, by=by, version=version, note=note, upload=upload
        )
    with transaction.atomic():  # a refused submission undoes the start
        started = finding_move(finding=finding, to_state=FindingState.IN_PROGRESS, by=by, version=version)
        return finding_move(
            finding=started, to_state=FindingState.SUBMITTED, by=by, version=started.version, note=note, upload=upload
        )


# ------------------------------------------------------------------------------------------ assessment rounds


def _half_year_or_year(start, end):
    """A round covers a half-year (1 Jan–30 Jun, 1 Jul–31 Dec) or a calendar year."""
    if start.year != end.year or start.day != 1 or start.month not in (1, 7):
        return False
    return (start.month, end.month, end.day) in {(1, 6, 30), (1, 12, 31), (7, 12, 31)}


def round_organizations(*, rubric, root, period_end):
    """The organizations a round of `rubric` under `root` assesses: the rubric's levels (every kind but party groups
    when it names none) and sectors, in the subtree, founded by the period's end and not dissolved before it."""
    organizations = Organization.objects.filter(path__startswith=root.path)
    if rubric.levels:
        organizations = organizations.filter(kind__in=rubric.levels)
    else:
        organizations = organizations.exclude(kind=OrganizationKind.PARTY_GROUP)
    if rubric.sectors:
        organizations = organizations.filter(sector__in=rubric.sectors)
    return organizations.filter(Q(founded_on__isnull=True) | Q(founded_on__lte=period_end)).filter(
        Q(dissolved_on__isnull=True) | Q(dissolved_on__gt=period_end)
    )


def round_open(*, rubric, root, period_start, period_end, self_assessment_due, review_due, title="", by):
    """Open an assessment round: the rubric's definitions frozen on the round, and one assessment per organization
    of the rubric's levels and sectors in the subtree (bulk insert). A reviewer (or admin) of the root opens it."""
    access.require(by, access.REVIEW, root)
    errors = []
    if rubric.state != RubricState.PUBLISHED:
        errors.append(_("Only a published rubric can be used for an assessment round."))
    if period_start is None or period_end is None or not _half_year_or_year(period_start, period_end):
        errors.append(_("A round covers a half-year (1 January–30 June or 1 July–31 December) or a whole year."))
    if self_assessment_due is None or review_due is None:
        errors.append(_("Give both deadlines: the self-assessment and the review."))
    else:
        if period_start and self_assessment_due < period_start:
            errors.append(_("The self-assessment cannot be due before the period begins."))
        if review_due < self_assessment_due:
            errors.append(_("The review cannot be due before the self-assessment."))
    if (
        not errors
        and AssessmentRound.objects.filter(
            rubric=rubric, root=root, period_start=period_start, period_end=period_end
        ).exists()
    ):
        errors.append(_("A round of this rubric over this subtree and period is already open."))
    definitions = scoring.definitions_of(rubric) if not errors else None
    if definitions is not None:
        errors += scoring.check(definitions)
    organizations = (
        list(round_organizations(rubric=rubric, root=root, period_end=period_end).values_list("pk", flat=True))
        if not errors
        else []
    )
    if not errors and not organizations:
        errors.append(_("No organization under %(root)s is of the rubric's levels and sectors.") % {"root": root})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        assessment_round = AssessmentRound.objects.create(
            rubric=rubric,
            root=root,
            title=title,
            period_start=period_start,
            period_end=period_end,
            self_assessment_due=self_assessment_due,
            review_due=review_due,
            definitions=definitions,
            created_by=by if getattr(by, "pk", None) else None,
        )
        Assessment.objects.bulk_create(
            [Assessment(round=assessment_round, organization_id=pk) for pk in organizations], batch_size=5000
        )
        audit.record_summary(
            assessment_round, AuditEntry.Action.CREATE, {"assessments": len(organizations), "root": root.code}
        )
    return assessment_round


def round_score(*, round, by, today=None):  # noqa: A002 (the house's name for the round)
    """Score every assessment of the round not yet published (`assessments.scoring`), in one transaction: a
    failure leaves the previous results as they were. Re-running over the same records gives the same results."""
    access.require(by, access.REVIEW, round.root)
    if round.state == RoundState.CLOSED:
        raise ValidationError(_("The round is closed: its scores no longer change."))
    today = today or timezone.localdate()
    with transaction.atomic():
        # One scoring of a round at a time: a second one waits, then scores the records as they are then.
        locked = AssessmentRound.objects.select_for_update().select_related("root").get(pk=round.pk)
        now = timezone.now()
        run = scoring.score_round(locked, through=today, now=now)
        AssessmentRound.objects.filter(pk=locked.pk).update(scored_at=now)
    return run


def rounds_score_open(*, by, today=None):
    """Score every open round (the nightly job and `manage.py run_scoring`): {round id: Run}, each in its own
    transaction."""
    return {
        assessment_round.pk: round_score(round=assessment_round, by=by, today=today)
        for assessment_round in AssessmentRound.objects.filter(state=RoundState.OPEN)
        .select_related("root")
        .order_by("pk")
    }
