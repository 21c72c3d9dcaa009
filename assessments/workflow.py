"""The assessment workflow (考核流程): self-assessment, application for acceptance, review, approval, publication.

    open → self-assessed → submitted (申请验收) → under review → returned (back to the organization) / approved
         → published (locked)

Each move is declared once on the model (`models.rounds.TRANSITIONS` and the action each needs, `MOVED_BY`) and
made here by the right role: the organization's secretary (edit) self-assesses and submits; an assessor (assess)
takes it, scores it, returns or approves it; a reviewer (review) approves bonuses and deductions and publishes.
An admin holds every action. The service contract of branches.services holds: `by=` first checked, values then
validated, one transaction, nothing written (files included) when a call is refused. Every call names the version
of the assessment the user saw; a second person acting on the same version is refused (optimistic locking).

Approving scores the round again (`services.round_score`) so that grades, ranks and quotas count the assessor's
points: at a province's scale that takes tens of seconds, so it runs as a job queued once the approval commits
(`services.score_after_commit`, the same way a round's first scoring is queued when it opens), and the approval's
step gets its frozen copy of the figures from that run (until then it is `figures_pending`, and the pages say that
scores are being recalculated). Publishing locks the figures as they stand, with a frozen copy; it waits until
the run after the approval is done. A published assessment is never changed again: the engine skips it, and every
service here refuses it. Before a round's first scoring has run, every service here refuses too: there are no
figures yet to self-assess against, score, submit, approve or publish.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from assessments import scoring, services
from assessments.models import (
    Assessment,
    AssessmentRound,
    AssessmentState,
    AssessmentStep,
    IndicatorKind,
    RoundState,
    Score,
)
from assessments.models.rounds import MOVED_BY, SELF_ASSESSING, TRANSITIONS
from branches import access, audit
from branches import services as branch_services
from branches.models import AuditEntry

ZERO = Decimal(0)
MAX_NOTE = 2000
MANUAL = {IndicatorKind.MANUAL.value, IndicatorKind.SURVEY.value}
ADJUSTABLE = {IndicatorKind.BONUS.value, IndicatorKind.DEDUCTION.value}
VETO = IndicatorKind.VETO.value


# ------------------------------------------------------------------------------------------- the indicators


@dataclass(frozen=True)
class Leaf:
    """One indicator an assessment is scored on, as the form shows it."""

    code: str
    title: str
    kind: str
    max_points: Decimal
    computed: bool  # from a metric: the assessor may only adjust it, with a reason
    parent: str

    @property
    def kind_label(self):
        return IndicatorKind(self.kind).label if self.kind in IndicatorKind.values else self.kind

    @property
    def scored_by_assessor(self):
        """Points an assessor gives (manual and survey indicators without a metric, bonuses, deductions, veto)."""
        return not self.computed

    @property
    def required(self):
        """Must be scored before the assessment can be approved."""
        return not self.computed and self.kind in MANUAL

    @property
    def needs_approval(self):
        return self.kind in ADJUSTABLE

    @property
    def self_assessable(self):
        return self.kind != VETO


def tree_of(assessment):
    return scoring.Tree(assessment.definitions if assessment.definitions is not None else assessment.round.definitions)


def leaves_of(assessment, tree=None):
    tree = tree or tree_of(assessment)
    with_metric = set(tree.metric_leaves())
    return [
        Leaf(
            code=code,
            title=tree.nodes[code].get("title") or code,
            kind=tree.nodes[code]["kind"],
            max_points=tree.max[code],
            computed=code in with_metric and tree.nodes[code]["kind"] != VETO,
            parent=tree.nodes[code].get("parent") or "",
        )
        for code in tree.leaves()
    ]


def _points(value, leaf, key, errors, *, allow_veto_mark=False):
    """A number of points between 0 and the indicator's maximum, or None when left blank; errors go on `key`."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[key] = [_("Give a number of points.")]
        return None
    if not number.is_finite():
        errors[key] = [_("Give a number of points.")]
        return None
    if allow_veto_mark and leaf.kind == VETO:
        if number not in (0, 1):
            errors[key] = [_("A veto is 1 (it applies) or 0 (it does not).")]
        return number
    if number < 0:
        errors[key] = [_("Points cannot be negative.")]
    elif number > leaf.max_points:
        errors[key] = [
            _("%(title)s is worth at most %(max)s points.")
            % {"title": leaf.title, "max": scoring.shown(leaf.max_points)}
        ]
    return number.quantize(scoring.STORED)


def _note(text, key, errors):
    text = (text or "").strip()
    if len(text) > MAX_NOTE:
        errors[key] = [_("At most %(count)d characters.") % {"count": MAX_NOTE}]
    try:
        Score._meta.get_field("evidence_note").run_validators(text)
    except ValidationError as error:
        errors[key] = error.messages
    return text


# ------------------------------------------------------------------------------------------- the moves


def _stale():
    return ValidationError(_("Someone else has just acted on this assessment. Reload it to see what changed."))


def _refuse_move(assessment, to_state):
    if assessment.state == AssessmentState.PUBLISHED:
        return ValidationError(_("This assessment is published and locked: it can no longer change."))
    return ValidationError(
        _("An assessment that is “%(now)s” cannot become “%(next)s”.")
        % {"now": AssessmentState(assessment.state).label, "next": AssessmentState(to_state).label}
    )


def _refuse_before_first_scoring(assessment):
    """Nothing is self-assessed, scored, submitted, approved or published before the round's first scoring (the job
    queued when it opened) has filled in its computed indicators: the figures would not exist yet."""
    if AssessmentRound.objects.filter(pk=assessment.round_id, scored_at__isnull=True, state=RoundState.OPEN).exists():
        raise ValidationError(
            _(
                "The round's computed indicators are still being calculated from the records. "
                "Try again in a moment, once they are filled in."
            )
        )


def may_move(user, assessment, to_state):
    """May `user` make this move now (allowed from the current state, and their role makes it)?"""
    to_state = AssessmentState(to_state)
    return assessment.may_become(to_state) and access.can(user, MOVED_BY[to_state], assessment.organization)


def moves_for(user, assessment):
    """The steps `user` can take on the assessment now, in the workflow's order (for the page's buttons)."""
    state = AssessmentState(assessment.state)
    return [to for to in AssessmentState if to in TRANSITIONS[state] and to != state and may_move(user, assessment, to)]


def _lock(assessment, version):
    """The assessment locked for the call, exactly as the user saw it; otherwise refused as stale."""
    locked = (
        Assessment.objects.select_for_update().filter(pk=assessment.pk, version=version, state=assessment.state).first()
    )
    if locked is None:
        raise _stale()
    return locked


def _bump(assessment, **values):
    changed = Assessment.objects.filter(pk=assessment.pk, version=assessment.version).update(
        version=F("version") + 1, **values
    )
    if not changed:
        raise _stale()


def _step(assessment, to_state, by, comment, snapshot=None, figures_pending=False):
    return AssessmentStep.objects.create(
        assessment=assessment,
        from_state=assessment.state,
        to_state=to_state,
        by=by if getattr(by, "pk", None) else None,
        comment=comment,
        snapshot=snapshot or {},
        figures_pending=figures_pending,
    )


def figures_pending(assessment):
    """Is the round being scored again for an approval of this assessment (its figures not yet final)?"""
    return AssessmentStep.objects.filter(assessment=assessment, figures_pending=True).exists()


def snapshot_of(assessment):
    """The figures of the assessment as they stand (plain JSON): what was approved or published."""
    return services.snapshot_of(assessment.pk)


NOW, AFTER_RESCORE = "now", "after_rescore"  # when a step keeps its frozen copy of the figures


def _move(*, assessment, to_state, by, version, comment="", check=None, keep_figures=None, why_needed=None):
    """Make the move: refused unless allowed from the state, by the role, on the version seen; `check(locked)`
    may refuse more; `keep_figures` (NOW or AFTER_RESCORE) gives the step its frozen copy of the figures."""
    to_state = AssessmentState(to_state)
    if not assessment.may_become(to_state) or to_state == assessment.state:
        raise _refuse_move(assessment, to_state)
    access.require(by, MOVED_BY[to_state], assessment.organization)
    _refuse_before_first_scoring(assessment)
    errors = {}
    comment = _note(comment, "comment", errors)
    if why_needed and not comment and "comment" not in errors:
        errors["comment"] = [why_needed]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _lock(assessment, version)
        if check is not None:
            check(locked)
        # Approving scores the round again, after the commit (`services.score_after_commit`): its frozen copy of the
        # figures comes with that run. Publishing keeps the figures as they stand, which that run made.
        pending = keep_figures == AFTER_RESCORE and locked.round.state == RoundState.OPEN
        snapshot = snapshot_of(locked) if keep_figures and not pending else None
        _bump(locked, state=to_state)
        _step(locked, to_state, by, comment, snapshot, figures_pending=pending)
        audit.record_bulk(AuditEntry.Action.UPDATE, [(locked, {"state": [locked.state, to_state.value]})])
        if pending:
            services.score_after_commit(locked.round)
    return Assessment.objects.select_related("round", "organization").get(pk=assessment.pk)


def submit(*, assessment, by, version, comment=""):
    """申请验收: the organization hands its self-assessment to the assessors."""

    def check(locked):
        if not Score.objects.filter(assessment=locked, self_score__isnull=False).exists():
            raise ValidationError(_("Fill in the self-assessment before applying for acceptance."))

    return _move(
        assessment=assessment, to_state=AssessmentState.SUBMITTED, by=by, version=version, comment=comment, check=check
    )


def take(*, assessment, by, version, comment=""):
    """An assessor takes a submitted assessment for review."""
    return _move(assessment=assessment, to_state=AssessmentState.UNDER_REVIEW, by=by, version=version, comment=comment)


def send_back(*, assessment, by, version, comment):
    """Return the assessment to its organization, saying why (it self-assesses and applies again)."""
    return _move(
        assessment=assessment,
        to_state=AssessmentState.RETURNED,
        by=by,
        version=version,
        comment=comment,
        why_needed=_("Say what the organization must correct."),
    )


def approval_problems(assessment, rows=None):
    """What keeps the assessment from being approved, as Chinese sentences: manual indicators not scored, bonuses
    and deductions not approved."""
    rows = rows if rows is not None else {score.code: score for score in Score.objects.filter(assessment=assessment)}
    problems = []
    for leaf in leaves_of(assessment):
        row = rows.get(leaf.code)
        if leaf.required and (row is None or (row.assessor_score is None and row.adjusted is None)):
            problems.append(_("“%(title)s” has no assessor's points yet.") % {"title": leaf.title})
        if leaf.needs_approval and row is not None and row.approved_by_id is None:
            amount = row.adjusted if row.adjusted is not None else row.assessor_score
            if amount:
                problems.append(
                    _("“%(title)s” (%(kind)s) awaits a reviewer's approval.")
                    % {"title": leaf.title, "kind": IndicatorKind(leaf.kind).label}
                )
    return problems


def approve(*, assessment, by, version, comment=""):
    """The assessor approves: every manual indicator scored, every bonus and deduction approved. The round is
    scored again and the approved figures are kept with the step."""

    def check(locked):
        problems = approval_problems(locked)
        if problems:
            raise ValidationError(problems)

    return _move(
        assessment=assessment,
        to_state=AssessmentState.APPROVED,
        by=by,
        version=version,
        comment=comment,
        check=check,
        keep_figures=AFTER_RESCORE,
    )


def publish_problems(assessment):
    """What keeps an approved assessment from being published now, as Chinese sentences."""
    if figures_pending(assessment):
        return [_("The round is being scored again after the approval: publish once its scores are updated.")]
    return []


def publish(*, assessment, by, version, comment=""):
    """A reviewer publishes an approved assessment: locked with a frozen copy of its figures as the run after its
    approval (or a later one) scored them. Refused while that run has not been done, so that what is published
    always counts the assessor's points."""

    def check(locked):
        problems = publish_problems(locked)
        if problems:
            raise ValidationError(problems)

    return _move(
        assessment=assessment,
        to_state=AssessmentState.PUBLISHED,
        by=by,
        version=version,
        comment=comment,
        check=check,
        keep_figures=NOW,
    )


STEP_SERVICES = {
    AssessmentState.SUBMITTED: submit,
    AssessmentState.UNDER_REVIEW: take,
    AssessmentState.RETURNED: send_back,
    AssessmentState.APPROVED: approve,
    AssessmentState.PUBLISHED: publish,
}


def step(*, assessment, to_state, by, version, comment=""):
    """The move to `to_state` by its service (a page's step button)."""
    to_state = AssessmentState(to_state)
    if to_state not in STEP_SERVICES:
        raise _refuse_move(assessment, to_state)
    return STEP_SERVICES[to_state](assessment=assessment, by=by, version=version, comment=comment)


# ------------------------------------------------------------------------------------------- the scores


def _rows(assessment):
    return {score.code: score for score in Score.objects.select_for_update().filter(assessment=assessment)}


def _row(rows, assessment, leaf):
    row = rows.get(leaf.code)
    if row is None:
        row = Score(assessment=assessment, code=leaf.code, kind=leaf.kind)
        rows[leaf.code] = row
    return row


def self_assess(*, assessment, by, version, entries, comment=""):
    """自评: the organization's points for its indicators, each with evidence (a note, a file, or both).

    `entries`: {indicator code: {"points": …, "note": "…", "upload": file or None}}; an indicator left blank is
    not claimed. Points lie between 0 and the indicator's maximum; points claimed need evidence. The assessment
    becomes "self-assessed" (again, after it was returned); saving again while self-assessed changes the points.
    """
    access.require(by, access.EDIT, assessment.organization)
    if assessment.state not in SELF_ASSESSING:
        raise _refuse_move(assessment, AssessmentState.SELF_ASSESSED)
    _refuse_before_first_scoring(assessment)
    leaves = {leaf.code: leaf for leaf in leaves_of(assessment) if leaf.self_assessable}
    unknown = set(entries) - set(leaves)
    if unknown:
        raise ValidationError(_("Unknown indicators: %(codes)s.") % {"codes": "、".join(sorted(unknown))})
    errors, wanted = {}, {}
    existing_files = set(
        Score.objects.filter(assessment=assessment, evidence_file__isnull=False).values_list("code", flat=True)
    )
    for code, entry in entries.items():
        leaf = leaves[code]
        points = _points(entry.get("points"), leaf, code, errors)
        note = _note(entry.get("note"), f"{code}-note", errors)
        upload = entry.get("upload")
        if points is not None and not (note or upload or code in existing_files) and code not in errors:
            errors[code] = [_("Give evidence for “%(title)s”: a note, a file or both.") % {"title": leaf.title}]
        wanted[code] = (points, note, upload)
    if not any(points is not None for points, _n, _u in wanted.values()) and not errors:
        errors["__all__"] = [_("Give the points of at least one indicator.")]
    _note(comment, "comment", errors)
    if errors:
        raise ValidationError(errors)
    for code, (_p, _n, upload) in wanted.items():  # noqa: B007
        if upload is not None:
            branch_services.upload_check(assessment.organization, upload, field=f"{code}-file")
    with branch_services.atomic_with_files():
        locked = _lock(assessment, version)
        rows = _rows(locked)
        changes = []
        for code, (points, note, upload) in wanted.items():
            row = _row(rows, locked, leaves[code])
            before = [str(row.self_score) if row.self_score is not None else None, row.evidence_note]
            row.self_score, row.evidence_note = points, note
            if upload is not None:
                row.evidence_file = branch_services.attachment_add(
                    organization=locked.organization,
                    title=(_("Self-assessment evidence: %(title)s") % {"title": leaves[code].title})[:120],
                    upload=upload,
                    by=by,
                )
            row.save()
            changes.append((row, {"self_score": [before[0], None if points is None else str(points)]}))
        state = AssessmentState.SELF_ASSESSED
        _bump(locked, state=state)
        if locked.state != state:
            _step(locked, state, by, (comment or "").strip())
        audit.record_bulk(AuditEntry.Action.UPDATE, changes)
    return Assessment.objects.select_related("round", "organization").get(pk=assessment.pk)


def assessor_score(*, assessment, by, version, entries):
    """The assessor's points, while the assessment is under review.

    `entries`: {code: {"points": …, "adjusted": …, "reason": "…", "comment": "…"}}. Manual indicators, survey
    indicators without a metric, bonuses and deductions take `points` (0 to the maximum; a veto 1 or 0); a
    computed indicator keeps what the records give unless `adjusted`, which needs a written `reason`. Changing a
    bonus or a deduction withdraws its approval.
    """
    access.require(by, access.ASSESS, assessment.organization)
    if assessment.state != AssessmentState.UNDER_REVIEW:
        if assessment.state == AssessmentState.PUBLISHED:
            raise _refuse_move(assessment, AssessmentState.PUBLISHED)
        raise ValidationError(_("Points are given only while the assessment is under review: take it first."))
    _refuse_before_first_scoring(assessment)
    leaves = {leaf.code: leaf for leaf in leaves_of(assessment)}
    unknown = set(entries) - set(leaves)
    if unknown:
        raise ValidationError(_("Unknown indicators: %(codes)s.") % {"codes": "、".join(sorted(unknown))})
    errors, wanted = {}, {}
    for code, entry in entries.items():
        leaf = leaves[code]
        comment = _note(entry.get("comment"), f"{code}-comment", errors)
        if leaf.computed:
            if entry.get("points") not in (None, ""):
                errors[code] = [
                    _("“%(title)s” is computed from the records: adjust it instead.") % {"title": leaf.title}
                ]
            adjusted = _points(entry.get("adjusted"), leaf, f"{code}-adjusted", errors)
            reason = _note(entry.get("reason"), f"{code}-reason", errors)
            if adjusted is not None and not reason:
                errors[f"{code}-reason"] = [
                    _("Write why “%(title)s” is adjusted away from what the records give.") % {"title": leaf.title}
                ]
            wanted[code] = {"adjusted": adjusted, "adjustment_reason": reason if adjusted is not None else ""}
        else:
            points = _points(entry.get("points"), leaf, code, errors, allow_veto_mark=True)
            wanted[code] = {"assessor_score": points}
        wanted[code]["assessor_note"] = comment
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _lock(assessment, version)
        rows = _rows(locked)
        changes = []
        for code, values in wanted.items():
            row = _row(rows, locked, leaves[code])
            before = {name: getattr(row, name) for name in values}
            if (
                leaves[code].needs_approval
                and before.get("assessor_score") != values.get("assessor_score")
                and row.approved_by_id
            ):
                row.approved_by = None
            for name, value in values.items():
                setattr(row, name, value)
            if row.pk is None or any(before[name] != values[name] for name in values):
                row.save()
                changed = {name for name in values if before[name] != values[name]}
                changes.append((row, {name: [_plain(before[name]), _plain(values[name])] for name in changed}))
        _bump(locked)
        audit.record_bulk(AuditEntry.Action.UPDATE, changes)
    return Assessment.objects.select_related("round", "organization").get(pk=assessment.pk)


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def adjustments_approve(*, assessment, by, version, codes):
    """A reviewer (or admin) approves bonuses and deductions the assessor gave; only approved ones count."""
    access.require(by, access.REVIEW, assessment.organization)
    if assessment.state != AssessmentState.UNDER_REVIEW:
        if assessment.state == AssessmentState.PUBLISHED:
            raise _refuse_move(assessment, AssessmentState.PUBLISHED)
        raise ValidationError(_("Bonuses and deductions are approved while the assessment is under review."))
    _refuse_before_first_scoring(assessment)
    leaves = {leaf.code: leaf for leaf in leaves_of(assessment) if leaf.needs_approval}
    codes = set(codes)
    if not codes:
        raise ValidationError(_("Choose the bonuses and deductions to approve."))
    if codes - set(leaves):
        raise ValidationError(_("Only bonuses and deductions need an approval."))
    with transaction.atomic():
        locked = _lock(assessment, version)
        rows = _rows(locked)
        changes = []
        for code in sorted(codes):
            row = rows.get(code)
            if row is None or not (row.assessor_score or row.adjusted):
                raise ValidationError(_("“%(title)s” has no points to approve yet.") % {"title": leaves[code].title})
            if row.approved_by_id is None:
                row.approved_by = by if getattr(by, "pk", None) else access.system_user()
                row.save(update_fields=["approved_by"])
                changes.append((row, {"approved_by": [None, row.approved_by_id]}))
        _bump(locked)
        audit.record_bulk(AuditEntry.Action.UPDATE, changes)
    return Assessment.objects.select_related("round", "organization").get(pk=assessment.pk)
