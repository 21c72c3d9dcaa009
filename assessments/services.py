"""Writes for responsibility lists, inspections and rectification.

The service contract of branches.services holds here too: `by=` is required, permission goes through
`access.require`, values are validated before anything is written, and a refusal writes nothing.

Issuing is set-based (one transaction, bulk inserts, idempotent). A finding moves through
its states only along the allowed edges, only by the right role, and only from the version
the user saw (optimistic locking), so two people acting at once cannot overwrite each other.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from assessments import rubrics, scoring, summaries
from assessments.models import (
    Aggregation,
    Assessment,
    AssessmentRound,
    AssessmentStep,
    Finding,
    FindingState,
    FindingTransition,
    GradeBand,
    Indicator,
    IndicatorKind,
    Inspection,
    ItemStatus,
    LeafFigures,
    ResponsibilityItem,
    ResponsibilityList,
    RoundState,
    Rubric,
    RubricState,
    Score,
    ScoreSheet,
    TemplateItem,
)
from assessments.models.inspections import BY_INSPECTOR, BY_ORGANIZATION, TRANSITIONS  # declared on the model
from branches import access, audit, jobs
from branches import services as branch_services
from branches.models import AuditEntry, Organization, OrganizationKind, OrganizationStatus
from branches.validators import typed


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
            raise ValidationError(stale, code="stale")
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
            raise ValidationError(stale, code="stale")
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
    if to_state not in FindingState.values:
        raise ValidationError(_("There is no such state of a finding."))
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
            raise ValidationError(stale, code="stale")
        if evidence is not None:
            updates["evidence_file"] = branch_services.attachment_add(
                organization=finding.organization, title=_("Rectification evidence"), upload=evidence, by=by
            )
        changed = Finding.objects.filter(pk=finding.pk, version=version, state=finding.state).update(
            state=to_state, version=F("version") + 1, **updates
        )
        if not changed:
            raise ValidationError(stale, code="stale")
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


ANALYZED_FROM = 1000  # a round opened over this many organizations or more analyzes the assessments table


def round_open(*, rubric, root, period_start, period_end, self_assessment_due, review_due, title="", by):
    """Open an assessment round: the rubric's definitions frozen on the round, and one assessment per organization
    of the rubric's levels and sectors in the subtree (bulk insert). A reviewer (or admin) of the root opens it.

    Its first scoring is not done here: at a province's scale it takes tens of seconds, so it is the job queued once
    the opening commits (`score_after_commit`). Until it has run the round is `first_scoring_pending`: its pages
    say that the computed indicators are being calculated, and the workflow refuses every step."""
    access.require(by, access.REVIEW, root)
    errors = []
    given = {  # the round is created in one insert, past the model's validators: its own values checked here
        "title": title,
        "period_start": period_start,
        "period_end": period_end,
        "self_assessment_due": self_assessment_due,
        "review_due": review_due,
    }
    try:
        typed(AssessmentRound, {name: value for name, value in given.items() if value is not None})
    except ValidationError as error:
        errors += [message for messages in error.message_dict.values() for message in messages]
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
        if connection.vendor == "postgresql" and len(organizations) >= ANALYZED_FROM:
            # Thousands of new rows the planner knows nothing of yet: without statistics the round's first scoring
            # joins every summary to its assessments one by one (autovacuum may be late, or off).
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Assessment._meta.db_table}")
        audit.record_summary(
            assessment_round, AuditEntry.Action.CREATE, {"assessments": len(organizations), "root": root.code}
        )
        score_after_commit(assessment_round)
    return assessment_round


def score_after_commit(assessment_round):
    """Once the transaction commits, queue the job that scores the round (`tasks.rescore_round`): the first scoring
    of a round just opened, or the run an approval waits for. Where no queue takes it (the broker is away), the run
    is made then, in the request. A rolled-back transaction queues nothing."""
    from assessments import tasks  # the tasks wrap these services

    round_id = assessment_round.pk

    def queue():
        if not jobs.enqueue(tasks.rescore_round, round_id=round_id):
            round_rescore(round_id=round_id, by=access.system_user())

    transaction.on_commit(queue)


def round_score(*, round, by, today=None, only_if_waiting=False):  # noqa: A002 (the house's name for the round)
    """Score every assessment of the round not yet published (`assessments.scoring`), in one transaction: a
    failure leaves the previous results as they were. Re-running over the same records gives the same results.

    Approvals waiting for a run (`AssessmentStep.figures_pending`) get their frozen copy of the figures from it.
    `only_if_waiting` (the job queued when a round opens or an approval commits): score only when the round was
    never scored or some approval still waits, so approvals in quick succession cost one run, not one each; None
    when nothing waited."""
    access.require(by, access.REVIEW, round.root)
    if round.state == RoundState.CLOSED and not only_if_waiting:
        raise ValidationError(_("The round is closed: its scores no longer change."))
    today = today or timezone.localdate()
    with transaction.atomic():
        # One scoring of a round at a time: a second one waits, then scores the records as they are then.
        locked = AssessmentRound.objects.select_for_update().select_related("root").get(pk=round.pk)
        # Read after the lock and before the scoring: an approval committed by now is in this run's figures; a
        # later one waits for its own run.
        waiting = list(AssessmentStep.objects.filter(assessment__round=locked, figures_pending=True).order_by("pk"))
        if only_if_waiting and not waiting and locked.scored_at is not None:
            return None
        run = None
        if locked.state == RoundState.OPEN:
            now = timezone.now()
            run = scoring.score_round(locked, through=today, now=now)
            AssessmentRound.objects.filter(pk=locked.pk).update(scored_at=now)
        for step in waiting:
            step.snapshot, step.figures_pending = snapshot_of(step.assessment_id), False
        AssessmentStep.objects.bulk_update(waiting, ["snapshot", "figures_pending"])
    return run


def snapshot_of(assessment_id):
    """The figures of the assessment as they stand (plain JSON): what was approved or published."""
    fresh = Assessment.objects.select_related("round").get(pk=assessment_id)
    rows = {score.code: score for score in Score.objects.filter(assessment=fresh)}
    tree = scoring.Tree(fresh.definitions if fresh.definitions is not None else fresh.round.definitions)
    sheet = ScoreSheet.objects.filter(assessment=fresh).first()
    figures_of = scoring.figures_of(sheet, tree)
    scores = {}
    for code in sorted(set(rows) | set(sheet.finals if sheet is not None else ())):
        score = rows.get(code) or Score(kind=tree.nodes.get(code, {}).get("kind", ""))
        figures = figures_of.get(code) or LeafFigures()
        scores[code] = {
            name: (str(value) if isinstance(value, Decimal) else value)
            for name, value in (
                ("kind", score.kind),
                ("computed", figures.computed),
                ("self_score", score.self_score),
                ("assessor_score", score.assessor_score),
                ("adjusted", score.adjusted),
                ("adjustment_reason", score.adjustment_reason),
                ("approved_by", score.approved_by_id),
                ("final", figures.final),
                ("why", scoring.why(figures.trace)),
            )
        }
    return {
        "total": None if fresh.total is None else str(fresh.total),
        "grade": fresh.grade,
        "rank": fresh.rank,
        "peer_size": fresh.peer_size,
        "vetoed": fresh.vetoed,
        "bottom": fresh.bottom,
        "parts": fresh.parts,
        "rubric": (fresh.definitions or fresh.round.definitions).get("rubric", {}),
        "scores": scores,
    }


def round_rescore(*, round_id, by):
    """The job a round's opening or an approval queues: the round's first scoring, or its scoring again for the
    approvals waiting for it (`only_if_waiting`); None when the round is gone or nothing waits any more."""
    assessment_round = AssessmentRound.objects.select_related("root").filter(pk=round_id).first()
    if assessment_round is None:
        return None
    return round_score(round=assessment_round, by=by, only_if_waiting=True)


def rounds_score_open(*, by, today=None):
    """Score every open round (the nightly job and `manage.py run_scoring`): {round id: Run}, each in its own
    transaction."""
    return {
        assessment_round.pk: round_score(round=assessment_round, by=by, today=today)
        for assessment_round in AssessmentRound.objects.filter(state=RoundState.OPEN)
        .select_related("root")
        .order_by("pk")
    }


# ---------------------------------------------------------------------------------------------------------------
# Rubrics (考核细则). Rules of the whole tree: only an admin of a root writes them. A draft is edited by applying
# the change to a copy of its tree (assessments.rubrics), checking the copy, and only then writing; a published or
# archived version is never changed (editing it means a new draft version).


@dataclass
class RubricImport:
    """What an import would create (preview) or created: the tree, the version it gets, what publishing still needs."""

    tree: dict
    version: int
    warnings: list
    rubric: Rubric | None = None

    @property
    def indicator_count(self):
        return sum(1 for _node in rubrics.walk(self.tree["indicators"]))


def _refuse(found, node=None):
    """The problems as a ValidationError: beside the form's field for the node being edited, the rest above."""
    errors = {}
    for problem in found:
        if problem.field and problem.node == node and node is not None:
            errors.setdefault(problem.field, []).append(problem.message)
        else:
            errors.setdefault(NON_FIELD_ERRORS, []).append(str(problem))
    raise ValidationError(errors)


def _check(tree, *, node=None, complete=False):
    found = rubrics.problems(tree, complete=complete)
    if found:
        _refuse(found, node)


def _draft(rubric):
    """The rubric locked for the edit; refused unless it is a draft (published and archived versions are frozen)."""
    locked = Rubric.objects.select_for_update().get(pk=rubric.pk)
    if locked.state != RubricState.DRAFT:
        raise ValidationError(
            _(
                "Version %(version)d of this rubric is %(state)s and can no longer change: "
                "make a new version to edit it."
            )
            % {"version": locked.version, "state": locked.get_state_display()}
        )
    return locked


def _next_version(code, year):
    latest = Rubric.objects.filter(code=code, year=year).aggregate(latest=Max("version"))["latest"]
    return (latest or 0) + 1


def _rubric_data(data, keep=()):
    """A rubric's own fields from a form's data, typed; `keep` names fields that cannot change here."""
    values = {k: v for k, v in data.items() if k in rubrics.RUBRIC_FIELDS and k not in keep}
    for name in ("sectors", "levels"):
        if name in values and values[name] is None:
            values[name] = []  # none chosen: every sector, every level
    return typed(Rubric, values)


def _rubric_values(rubric, data):
    for name in ("code", "title", "year", "sectors", "levels", "total_points", "bonus_may_exceed", "description"):
        if name in data:
            setattr(rubric, name, data[name])
    rubric.sectors = list(rubric.sectors or [])
    rubric.levels = list(rubric.levels or [])


def _write_tree(rubric, tree):
    """Create the tree's indicators and bands under a new rubric: one insert per level of the tree."""
    level = [(node, None, position) for position, node in enumerate(tree["indicators"])]
    while level:
        rows = []
        for node, parent, position in level:
            values = {name: node[name] for name in rubrics.INDICATOR_FIELDS}
            values["aggregation"] = values["aggregation"] or Aggregation.CAPPED_SUM
            rows.append(Indicator(rubric=rubric, parent=parent, position=position, **values))
        for row in rows:
            row.full_clean(exclude=["rubric", "parent"], validate_unique=False, validate_constraints=False)
        Indicator.objects.bulk_create(rows)
        level = [
            (child, row, position)
            for (node, _parent, _position), row in zip(level, rows, strict=True)
            for position, child in enumerate(node.get("children", []))
        ]
    bands = [
        GradeBand(rubric=rubric, **{name: band.get(name) for name in rubrics.BAND_FIELDS}) for band in tree["bands"]
    ]
    for band in bands:
        band.full_clean(exclude=["rubric"], validate_unique=False, validate_constraints=False)
    GradeBand.objects.bulk_create(bands)


def _new_rubric(tree, *, code, year, title, based_on, by):
    rubric = Rubric(state=RubricState.DRAFT, based_on=based_on)
    _rubric_values(rubric, {**{k: tree[k] for k in rubrics.RUBRIC_FIELDS}, "code": code, "year": year, "title": title})
    rubric.version = _next_version(code, year)
    rubric.full_clean(exclude=["based_on", "published_by"])
    rubric.save()
    _write_tree(rubric, tree)
    audit.record_summary(
        rubric,
        AuditEntry.Action.CREATE,
        {"indicators": sum(1 for _n in rubrics.walk(tree["indicators"])), "based_on": getattr(based_on, "pk", None)},
    )
    return rubric


@transaction.atomic
def rubric_create(*, data, by) -> Rubric:
    """A new, empty rubric (draft, version 1). A code already used in the year is refused: copy that one instead."""
    access.require(by, access.ADMINISTER, None)
    rubric = Rubric(state=RubricState.DRAFT, version=1)
    _rubric_values(rubric, _rubric_data(data))
    rubric.full_clean(exclude=["based_on", "published_by"])
    if Rubric.objects.filter(code=rubric.code, year=rubric.year).exists():
        raise ValidationError(
            {
                "code": _("A rubric with this code already exists for %(year)d: copy it or make a new version.")
                % {"year": rubric.year}
            }
        )
    tree = {**{name: getattr(rubric, name) for name in rubrics.RUBRIC_FIELDS}, "indicators": [], "bands": []}
    _check(tree)
    rubric.save()
    return rubric


@transaction.atomic
def rubric_edit(*, rubric, data, by) -> Rubric:
    """Change a draft's own fields (title, sectors, levels, total, whether bonuses may exceed it, description).
    Its code and year name the rubric across versions and stay."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(rubric)
    data = _rubric_data(data, keep=("code", "year"))
    tree = rubrics.snapshot(rubric)
    tree.update({k: v for k, v in data.items() if k in rubrics.RUBRIC_FIELDS})
    _check(tree)
    _rubric_values(rubric, data)
    rubric.full_clean(exclude=["based_on", "published_by"])
    rubric.save()
    return rubric


@transaction.atomic
def rubric_copy(*, source, by, year=None, code=None, title=None) -> Rubric:
    """A new draft from any version (last year's, or another code's): the whole tree and bands, `based_on` set.
    Its version is the next one of its code and year."""
    access.require(by, access.ADMINISTER, None)
    tree = rubrics.snapshot(source)
    year = year or source.year
    code = code or source.code
    _check({**tree, "code": code})
    if Rubric.objects.filter(code=code, year=year, state=RubricState.DRAFT).exists():
        raise ValidationError(
            _("There is already a draft of “%(code)s” for %(year)d: edit it, publish it or discard it first.")
            % {"code": code, "year": year}
        )
    return _new_rubric(tree, code=code, year=year, title=title or source.title, based_on=source, by=by)


@transaction.atomic
def rubric_new_version(*, rubric, by) -> Rubric:
    """Editing a published (or archived) version: a draft copy with the next version number of its code and year."""
    access.require(by, access.ADMINISTER, None)
    if rubric.state == RubricState.DRAFT:
        raise ValidationError(_("This version is still a draft: edit it directly."))
    return rubric_copy(source=rubric, by=by)


@transaction.atomic
def rubric_publish(*, rubric, by) -> Rubric:
    """Check the draft completely, then freeze it. A version published before it (same code and year) is archived:
    one version of a rubric is in force at a time; rounds that scored with the old one keep their copies."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(rubric)
    _check(rubrics.snapshot(rubric), complete=True)
    for older in Rubric.objects.select_for_update().filter(
        code=rubric.code, year=rubric.year, state=RubricState.PUBLISHED
    ):
        older.state = RubricState.ARCHIVED
        older.save(update_fields=["state"])
    rubric.state = RubricState.PUBLISHED
    rubric.published_at = timezone.now()
    rubric.published_by = by if getattr(by, "pk", None) else None
    rubric.save(update_fields=["state", "published_at", "published_by"])
    return rubric


@transaction.atomic
def rubric_archive(*, rubric, by) -> Rubric:
    """Retire a published version (rounds already scored with it are unchanged). A draft is discarded instead."""
    access.require(by, access.ADMINISTER, None)
    rubric = Rubric.objects.select_for_update().get(pk=rubric.pk)
    if rubric.state != RubricState.PUBLISHED:
        raise ValidationError(_("Only a published version can be archived."))
    rubric.state = RubricState.ARCHIVED
    rubric.save(update_fields=["state"])
    return rubric


@transaction.atomic
def rubric_discard(*, rubric, by):
    """Delete a draft with its indicators and bands. Published and archived versions stay for ever."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(rubric)
    rubric.delete()


def _find(tree, pk):
    for node, parent, codes, _depth in rubrics.walk(tree["indicators"]):
        if node["id"] == pk:
            return node, parent, codes
    raise Indicator.DoesNotExist


def _indicator_values(data):
    values = {name: data[name] for name in rubrics.INDICATOR_FIELDS if name in data}
    for name in ("params", "rule_params"):
        if name in values and values[name] in (None, ""):
            values[name] = {}
    for name in ("guidance", "formula", "metric", "rule", "aggregation"):
        if name in values and values[name] is None:
            values[name] = ""
    return typed(Indicator, values)


def _save_indicator(indicator):
    indicator.aggregation = indicator.aggregation or Aggregation.CAPPED_SUM
    indicator.full_clean(exclude=["rubric", "parent"], validate_constraints=False)
    indicator.save()
    return indicator


@transaction.atomic
def indicator_add(*, rubric, data, by, parent=None) -> Indicator:
    """A new indicator at the end of its area (or of the rubric's top level)."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(rubric)
    if parent is not None and parent.rubric_id != rubric.pk:
        raise ValidationError(_("The area belongs to another rubric."))
    tree = rubrics.snapshot(rubric)
    node = {
        "code": "",
        "title": "",
        "guidance": "",
        "kind": IndicatorKind.MANUAL,
        "max_points": Decimal(0),
        "aggregation": Aggregation.CAPPED_SUM,
        "weight": Decimal(1),
        "formula": "",
        "metric": "",
        "params": {},
        "rule": "",
        "rule_params": {},
        **_indicator_values(data),
        "id": "new",
        "children": [],
    }
    siblings = _find(tree, parent.pk)[0]["children"] if parent is not None else tree["indicators"]
    siblings.append(node)
    _check(tree, node="new")
    values = {k: v for k, v in node.items() if k in rubrics.INDICATOR_FIELDS}
    return _save_indicator(Indicator(rubric=rubric, parent=parent, position=len(siblings) - 1, **values))


@transaction.atomic
def indicator_edit(*, indicator, data, by) -> Indicator:
    access.require(by, access.ADMINISTER, None)
    _draft(indicator.rubric)
    indicator = Indicator.objects.get(pk=indicator.pk)
    tree = rubrics.snapshot(indicator.rubric)
    node = _find(tree, indicator.pk)[0]
    values = _indicator_values(data)
    node.update(values)
    _check(tree, node=indicator.pk)
    for name, value in values.items():
        setattr(indicator, name, value)
    return _save_indicator(indicator)


@transaction.atomic
def indicator_move(*, indicator, parent, by) -> Indicator:
    """Move an indicator (with its parts) to the end of another area, or to the top level (`parent` None)."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(indicator.rubric)
    indicator = Indicator.objects.get(pk=indicator.pk)
    if parent is not None and parent.rubric_id != rubric.pk:
        raise ValidationError(_("The area belongs to another rubric."))
    tree = rubrics.snapshot(rubric)
    node, old_parent, _codes = _find(tree, indicator.pk)
    if parent is not None:
        target = _find(tree, parent.pk)[0]
        inside = {n["id"] for n, _p, _c, _d in rubrics.walk([node])}
        if parent.pk in inside:
            raise ValidationError(_("An indicator cannot move into itself or into one of its parts."))
    (old_parent["children"] if old_parent else tree["indicators"]).remove(node)
    siblings = target["children"] if parent is not None else tree["indicators"]
    siblings.append(node)
    _check(tree, node=indicator.pk)
    indicator.parent = parent
    indicator.position = len(siblings) - 1
    indicator.save(update_fields=["parent", "position"])
    _renumber(rubric, old_parent["id"] if old_parent else None)
    return indicator


def _renumber(rubric, parent_id):
    for position, pk in enumerate(
        Indicator.objects.filter(rubric=rubric, parent_id=parent_id)
        .order_by("position", "pk")
        .values_list("pk", flat=True)
    ):
        Indicator.objects.filter(pk=pk).exclude(position=position).update(position=position)


@transaction.atomic
def indicator_reorder(*, rubric, parent, order, by):
    """Put the parts of an area (or the top level) in the given order: `order` lists all of their ids."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(rubric)
    current = list(
        Indicator.objects.filter(rubric=rubric, parent=parent).order_by("position", "pk").values_list("pk", flat=True)
    )
    order = [int(pk) for pk in order]
    if sorted(order) != sorted(current):
        raise ValidationError(_("The new order must list every part of the area once."))
    for position, pk in enumerate(order):
        Indicator.objects.filter(pk=pk).update(position=position)


def indicator_shift(*, indicator, step, by):
    """Move an indicator one place up (step -1) or down (+1) among its siblings."""
    access.require(by, access.ADMINISTER, None)
    siblings = list(
        Indicator.objects.filter(rubric_id=indicator.rubric_id, parent_id=indicator.parent_id)
        .order_by("position", "pk")
        .values_list("pk", flat=True)
    )
    index = siblings.index(indicator.pk)
    other = index + step
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
    indicator_reorder(rubric=indicator.rubric, parent=indicator.parent, order=siblings, by=by)


@transaction.atomic
def indicator_delete(*, indicator, by):
    """Delete an indicator with its parts; refused while its area's formula names it."""
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(indicator.rubric)
    tree = rubrics.snapshot(rubric)
    node, parent, _codes = _find(tree, indicator.pk)
    (parent["children"] if parent else tree["indicators"]).remove(node)
    _check(tree)
    Indicator.objects.filter(pk=indicator.pk).delete()
    _renumber(rubric, parent["id"] if parent else None)


def _band_values(data):
    return typed(GradeBand, {name: data[name] for name in rubrics.BAND_FIELDS if name in data})


@transaction.atomic
def band_add(*, rubric, data, by) -> GradeBand:
    access.require(by, access.ADMINISTER, None)
    rubric = _draft(rubric)
    tree = rubrics.snapshot(rubric)
    band = {
        "name": "",
        "min_points": Decimal(0),
        "max_share": None,
        "min_share": None,
        "children_share": None,
        **_band_values(data),
    }
    tree["bands"].append(band)
    _check(tree, node=band["name"])
    row = GradeBand(rubric=rubric, **band)
    row.full_clean(exclude=["rubric"], validate_constraints=False)
    row.save()
    return row


@transaction.atomic
def band_edit(*, band, data, by) -> GradeBand:
    access.require(by, access.ADMINISTER, None)
    _draft(band.rubric)
    band = GradeBand.objects.get(pk=band.pk)
    tree = rubrics.snapshot(band.rubric)
    values = _band_values(data)
    node = next(b for b in tree["bands"] if b["name"] == band.name)
    node.update(values)
    _check(tree, node=node["name"])
    for name, value in values.items():
        setattr(band, name, value)
    band.full_clean(exclude=["rubric"], validate_constraints=False)
    band.save()
    return band


@transaction.atomic
def band_delete(*, band, by):
    access.require(by, access.ADMINISTER, None)
    _draft(band.rubric)
    GradeBand.objects.filter(pk=band.pk).delete()


def rubric_import(*, by, data=None, file=None, preview=True) -> RubricImport:
    """A rubric file (JSON or YAML, see README.md "Rubric files") read, checked like an edit, and shown.

    With `preview` nothing is written; otherwise it becomes a new draft of its code and year, with the next
    version number: an import never overwrites a version. What publishing would still need comes back as warnings.
    """
    access.require(by, access.ADMINISTER, None)
    if file is not None:
        raw = file.read(rubrics.MAX_FILE_BYTES + 1)
        try:
            data = rubrics.load(raw, getattr(file, "name", "") or "")
        except rubrics.FileRefused as error:
            raise ValidationError(str(error)) from None
    tree, found = rubrics.parse(data)
    if found:
        raise ValidationError([str(problem) for problem in found[:30]])
    _check(tree)
    result = RubricImport(
        tree=tree,
        version=_next_version(tree["code"], tree["year"]),
        warnings=[str(problem) for problem in rubrics.problems(tree, complete=True)],
    )
    if not preview:
        with transaction.atomic():
            result.rubric = _new_rubric(
                tree, code=tree["code"], year=tree["year"], title=tree["title"], based_on=None, by=by
            )
    return result
