"""Pages of assessment rounds (考核): the rounds and their progress, opening a round, the assessment of one
organization (the secretary's self-assessment, the assessor's scoring, the workflow's steps), the ranking with its
exports, the survey results, and a printable report. Thin: reads through selectors, writes through services.

Every assessment is fetched through the access helper: a secretary sees their branch's assessment only, and any
other id answers 404.
"""

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from assessments import exports, ratings, selectors, services, surveys, workflow
from assessments.forms import RoundForm, StepForm, SurveyForm, SurveyImportConfirmForm, SurveyImportForm
from assessments.models import AssessmentState, Rating, SurveyResult
from assessments.models.rounds import MOVED_BY, SELF_ASSESSING
from branches import access
from branches.forms import show_service_errors
from branches.models import Organization, OrganizationKind
from branches.pages import confirm_page, form_page

PAGE = 100
STEP_WORDS = {
    AssessmentState.SUBMITTED: (
        gettext_lazy("Apply for acceptance"),
        gettext_lazy("The self-assessment goes to the assessors for acceptance."),
    ),
    AssessmentState.UNDER_REVIEW: (
        gettext_lazy("Take for review"),
        gettext_lazy("You review and score this assessment."),
    ),
    AssessmentState.RETURNED: (
        gettext_lazy("Return to the organization"),
        gettext_lazy("The organization corrects its self-assessment and applies again. Say what must be corrected."),
    ),
    AssessmentState.APPROVED: (
        gettext_lazy("Approve"),
        gettext_lazy(
            "The scores are approved. The round is then scored again in the background, and the approved figures "
            "are kept once that is done."
        ),
    ),
    AssessmentState.PUBLISHED: (
        gettext_lazy("Publish"),
        gettext_lazy("Once published the assessment is locked: nothing in it can change again. This cannot be undone."),
    ),
}


def _assessment_url(assessment):
    return reverse("assessments:assessment", args=[assessment.pk])


@require_GET
def round_list(request):
    rounds = list(selectors.rounds_for(request.user)[:100])
    opening = [
        org
        for org in access.home_organizations(request.user)
        if access.can(request.user, access.REVIEW, org) and org.is_active
    ]
    return render(
        request,
        "assessments/round_list.html",
        {"rows": [(r, selectors.progress_of(r)) for r in rounds], "opening": opening[:10]},
    )


@require_http_methods(["GET", "POST"])
def round_add(request, pk):
    root = access.get_scoped_or_404(request.user, Organization.objects.all(), access.REVIEW, pk=pk)
    form = RoundForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        start, end = form.period_dates()
        try:
            opened = services.round_open(
                rubric=form.cleaned_data["rubric"],
                root=root,
                period_start=start,
                period_end=end,
                self_assessment_due=form.cleaned_data["self_assessment_due"],
                review_due=form.cleaned_data["review_due"],
                title=form.cleaned_data["title"],
                by=request.user,
            )  # its first scoring is a job queued once the opening commits
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "The round is open. Its computed indicators are being calculated from the records: the round's "
                    "pages show them in a moment."
                ),
            )
            return redirect("assessments:round", opened.pk)
    return render(request, "assessments/round_form.html", {"form": form, "root": root})


@require_GET
def round_detail(request, pk):
    assessment_round = selectors.round_or_404(request.user, pk)
    state = request.GET.get("state", "")
    state = state if state in AssessmentState.values else ""
    search = request.GET.get("q", "").strip()[:60]
    rows = selectors.round_assessments(request.user, assessment_round, state=state, search=search)
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "assessments/round_detail.html",
        {
            "round": assessment_round,
            "progress": selectors.progress_of(assessment_round),
            "page": page,
            "query": query.urlencode(),
            "state": state,
            "q": search,
            "states": AssessmentState.choices,
            "judges": selectors.judges_in(request.user),
            "assesses": access.is_everywhere(request.user) or access.has_any(request.user, access.ASSESS),
            "being_scored": selectors.approvals_being_scored(assessment_round),
        },
    )


def _ranking_round(request, pk):
    assessment_round = selectors.round_or_404(request.user, pk)
    if not selectors.judges_in(request.user):
        raise Http404
    kinds = [(k.value, k.label) for k in OrganizationKind if k != OrganizationKind.PARTY_GROUP]
    kind = request.GET.get("kind", "")
    return assessment_round, (kind if kind in dict(kinds) else ""), kinds


@require_GET
def ranking(request, pk):
    assessment_round, kind, kinds = _ranking_round(request, pk)
    rows = selectors.ranking(request.user, assessment_round, kind=kind)
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    counts = selectors.grade_counts(request.user, assessment_round, kind=kind)
    bands = [{**band, "count": counts.get(band["name"], 0)} for band in assessment_round.definitions.get("bands", [])]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "assessments/ranking.html",
        {
            "round": assessment_round,
            "page": page,
            "bands": bands,
            "kind": kind,
            "kinds": kinds,
            "query": query.urlencode(),
            "being_scored": selectors.approvals_being_scored(assessment_round),
        },
    )


@require_GET
def ranking_export(request, pk):
    """The ranking as a workbook (the ranking, the committees' roll-ups and the round's ratings: three sheets) or as
    CSV (one of the three: `table=rollups` or `table=ratings`). Nothing to export before the round's first scoring:
    back to the ranking."""
    assessment_round, kind, _kinds = _ranking_round(request, pk)
    if assessment_round.first_scoring_pending:
        messages.info(
            request,
            _("Calculating…: the round's computed indicators are not filled in yet. Export once they are."),
        )
        return redirect(reverse("assessments:ranking", args=[pk]) + (f"?kind={kind}" if kind else ""))
    rows = selectors.ranking(request.user, assessment_round, kind=kind)
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    table = request.GET.get("table") if request.GET.get("table") in exports.TABLES else exports.RANKING
    return exports.ranking(
        rows.iterator(chunk_size=5000),
        assessment_round,
        fmt,
        table=table,
        rollups_of=lambda committees: selectors.ranking_rollups(request.user, assessment_round, committees),
        ratings_of=lambda: ratings.round_ratings(request.user, assessment_round),
    )


def _assesses_round(request, assessment_round):
    if not (access.is_everywhere(request.user) or access.has_any(request.user, access.ASSESS)):
        raise Http404


@require_http_methods(["GET", "POST"])
def survey_list(request, pk):
    """The round's survey results the user may enter, and a form to enter one."""
    assessment_round = selectors.round_or_404(request.user, pk)
    _assesses_round(request, assessment_round)
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip()
        organization = access.scoped(request.user, Organization.objects.all(), access.ASSESS).filter(code=code).first()
        if organization is None:
            form.add_error("code", _("“%(code)s” is not an organization of this round you assess.") % {"code": code})
        else:
            try:
                surveys.survey_save(
                    round=assessment_round,
                    organization=organization,
                    respondents=form.cleaned_data["respondents"],
                    satisfied_share=form.cleaned_data["satisfied_share"],
                    by=request.user,
                )
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, _("Saved the survey result of %(name)s.") % {"name": organization.name})
                return redirect("assessments:surveys", assessment_round.pk)
    results = access.scoped(
        request.user, SurveyResult.objects.filter(round=assessment_round), access.ASSESS
    ).select_related("organization")
    page = Paginator(results.order_by("organization__path"), PAGE).get_page(request.GET.get("page"))
    return render(request, "assessments/surveys.html", {"round": assessment_round, "form": form, "page": page})


@require_http_methods(["GET", "POST"])
def survey_import(request, pk):
    """Upload → preview (nothing written) → confirm (checked again, all rows or none)."""
    assessment_round = selectors.round_or_404(request.user, pk)
    _assesses_round(request, assessment_round)
    upload = SurveyImportForm(request.POST or None, request.FILES or None)
    preview = None
    try:
        if "payload" in request.POST:
            confirm = SurveyImportConfirmForm(request.POST)
            upload = SurveyImportForm()
            if confirm.is_valid():
                result = surveys.survey_import(
                    round=assessment_round, rows=confirm.cleaned_data["payload"], by=request.user, preview=False
                )
                messages.success(request, _("Imported %(count)d survey results.") % {"count": len(result.rows)})
                return redirect("assessments:surveys", assessment_round.pk)
            upload.add_error(None, confirm.errors.get("payload"))
        elif request.method == "POST" and upload.is_valid():
            preview = surveys.survey_import(
                round=assessment_round, file=upload.cleaned_data["file"], by=request.user, preview=True
            )
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as error:
        show_service_errors(upload, error)
    context = {"round": assessment_round, "form": upload, "preview": preview}
    if preview is not None:
        context["payload"] = json.dumps([row.as_data() for row in preview.rows], ensure_ascii=False)
    return render(request, "assessments/survey_import.html", context)


def _steps(user, assessment):
    return [(to, STEP_WORDS[to][0]) for to in workflow.moves_for(user, assessment) if to in STEP_WORDS]


@require_GET
def assessment_detail(request, pk):
    assessment = selectors.assessment_or_404(request.user, pk)
    lines, provisional = selectors.score_lines(assessment)
    user, org = request.user, assessment.organization
    return render(
        request,
        "assessments/assessment_detail.html",
        {
            "assessment": assessment,
            "lines": lines,
            "provisional": provisional,
            "steps": list(assessment.steps.select_related("by").order_by("at", "pk")),
            "moves": _steps(user, assessment),
            "being_scored": workflow.figures_pending(assessment),
            "rollups": selectors.indicator_rollups(assessment),
            "rating": Rating.objects.filter(round=assessment.round_id, organization=org).only("pk", "title").first(),
            "can_self_assess": access.can(user, access.EDIT, org)
            and assessment.state in SELF_ASSESSING
            and not assessment.round.first_scoring_pending,
            "can_score": access.can(user, access.ASSESS, org) and assessment.state == AssessmentState.UNDER_REVIEW,
            "can_approve_adjustments": access.can(user, access.REVIEW, org)
            and assessment.state == AssessmentState.UNDER_REVIEW
            and any(line.leaf.needs_approval and line.score and not line.score.approved_by_id for line in lines),
        },
    )


@require_GET
def assessment_report(request, pk):
    """One organization's result on an A4 page, to print (or save as PDF from the browser)."""
    assessment = selectors.assessment_or_404(request.user, pk)
    lines, provisional = selectors.score_lines(assessment)
    return render(
        request,
        "assessments/assessment_report.html",
        {
            "assessment": assessment,
            "lines": lines,
            "provisional": provisional,
            "steps": list(assessment.steps.select_related("by").order_by("at", "pk")),
            "being_scored": workflow.figures_pending(assessment),
            "rollups": selectors.indicator_rollups(assessment),
        },
    )


def _version(request):
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return -1


@require_http_methods(["GET", "POST"])
def self_assess(request, pk):
    """The secretary's self-assessment (自评): points and evidence beside every indicator."""
    assessment = selectors.assessment_or_404(request.user, pk, access.EDIT)
    errors, posted = {}, {}
    if request.method == "POST":
        entries = {}
        for leaf in workflow.leaves_of(assessment):
            if not leaf.self_assessable:
                continue
            points = request.POST.get(f"self-{leaf.code}", "").strip()
            note = request.POST.get(f"note-{leaf.code}", "")
            upload = request.FILES.get(f"file-{leaf.code}")
            posted[leaf.code] = {"points": points, "note": note}
            if points or note.strip() or upload:
                entries[leaf.code] = {"points": points, "note": note, "upload": upload}
        try:
            workflow.self_assess(assessment=assessment, by=request.user, version=_version(request), entries=entries)
        except ValidationError as error:
            errors = _by_field(error)
            for code, entry in entries.items():  # a browser cannot be handed the chosen files back
                if entry["upload"] is not None:
                    errors.setdefault(code, {}).setdefault("file", []).append(
                        ngettext(
                            "Not saved: the chosen file %(names)s must be chosen again.",
                            "Not saved: the chosen files %(names)s must be chosen again.",
                            1,
                        )
                        % {"names": f"“{entry['upload'].name}”"}
                    )
        else:
            messages.success(request, _("The self-assessment is saved. Apply for acceptance when it is complete."))
            return redirect(_assessment_url(assessment))
    lines, provisional = selectors.score_lines(assessment)
    return render(
        request,
        "assessments/self_assess.html",
        {
            "assessment": assessment,
            "lines": [line for line in lines if line.leaf.self_assessable],
            "errors": errors,
            "posted": posted,
            "open": assessment.state in SELF_ASSESSING and not assessment.round.first_scoring_pending,
        },
    )


def _by_field(error):
    """A service's refusal as {indicator code: {part: [messages]}}; what names no indicator under "__all__"."""
    if not hasattr(error, "error_dict"):
        return {"__all__": {"points": error.messages}}
    found = {}
    for key, messages_ in error.message_dict.items():
        code, _dash, part = key.rpartition("-")
        if part not in PARTS:  # an indicator's own points (its code may hold a hyphen)
            code, part = key, "points"
        if key in ("__all__", "comment"):
            code, part = "__all__", "points"
        found.setdefault(code, {}).setdefault(part, []).extend(messages_)
    return found


PARTS = {"note", "file", "adjusted", "reason", "comment"}


@require_http_methods(["GET", "POST"])
def assessor_score(request, pk):
    """The assessor's scoring: manual indicators scored, computed ones adjusted only with a reason."""
    assessment = selectors.assessment_or_404(request.user, pk, access.ASSESS)
    errors, posted = {}, {}
    if request.method == "POST":
        entries = {}
        for leaf in workflow.leaves_of(assessment):
            values = {
                name: request.POST.get(f"{name}-{leaf.code}", "")
                for name in ("points", "adjusted", "reason", "comment")
            }
            posted[leaf.code] = values
            entries[leaf.code] = {
                "points": None if leaf.computed else values["points"],
                "adjusted": values["adjusted"] if leaf.computed else None,
                "reason": values["reason"] if leaf.computed else "",
                "comment": values["comment"],
            }
            if not leaf.computed:
                entries[leaf.code].pop("adjusted")
                entries[leaf.code].pop("reason")
        try:
            workflow.assessor_score(assessment=assessment, by=request.user, version=_version(request), entries=entries)
        except ValidationError as error:
            errors = _by_field(error)
        else:
            messages.success(request, _("The scores are saved."))
            return redirect(_assessment_url(assessment))
    lines, provisional = selectors.score_lines(assessment)
    return render(
        request,
        "assessments/assessor_score.html",
        {
            "assessment": assessment,
            "lines": lines,
            "provisional": provisional,
            "errors": errors,
            "posted": posted,
            "open": assessment.state == AssessmentState.UNDER_REVIEW,
        },
    )


@require_http_methods(["GET", "POST"])
def assessment_step(request, pk, to):
    """A step of the workflow, confirmed first (each is hard or impossible to undo)."""
    if to not in STEP_WORDS:
        raise Http404
    to_state = AssessmentState(to)
    assessment = selectors.assessment_or_404(request.user, pk)
    if not access.can(request.user, MOVED_BY[to_state], assessment.organization):
        raise Http404
    problems = []
    if not assessment.may_become(to_state):
        problems.append(str(workflow._refuse_move(assessment, to_state).messages[0]))
    elif to_state == AssessmentState.APPROVED:
        problems = workflow.approval_problems(assessment)
    elif to_state == AssessmentState.PUBLISHED:
        problems = workflow.publish_problems(assessment)
    title, intro = STEP_WORDS[to_state]

    def done(moved):
        said = _("Done: the assessment is now “%(state)s”.") % {"state": to_state.label}
        if workflow.figures_pending(moved):
            said += " " + _("The round's scores are being recalculated: ranks and grades are updated in a moment.")
        return said

    return form_page(
        request,
        organization=assessment.organization,
        form=StepForm(request.POST or None, initial={"version": assessment.version}),
        title=title,
        save=lambda data: workflow.step(
            assessment=assessment,
            to_state=to_state,
            by=request.user,
            version=data["version"],
            comment=data["comment"],
        ),
        success=done,
        next_url=_assessment_url,
        danger=to_state == AssessmentState.PUBLISHED,
        template="assessments/assessment_step.html",
        context={"assessment": assessment, "intro": intro, "problems": problems},
    )


@require_http_methods(["GET", "POST"])
def adjustments_approve(request, pk):
    """A reviewer approves the bonuses and deductions an assessor gave (only approved ones count)."""
    assessment = selectors.assessment_or_404(request.user, pk, access.REVIEW)
    lines, _total = selectors.score_lines(assessment)
    return confirm_page(
        request,
        act=lambda: workflow.adjustments_approve(
            assessment=assessment,
            by=request.user,
            version=_version(request),
            codes=request.POST.getlist("code"),
        ),
        success=_("Approved."),
        next_url=_assessment_url,
        template="assessments/adjustments.html",
        context={
            "assessment": assessment,
            "lines": [line for line in lines if line.leaf.needs_approval],
            "open": assessment.state == AssessmentState.UNDER_REVIEW,
        },
    )
