"""Pages for rubrics (考核细则): the list, a version with its tree and bands, the editor of drafts, copy, new
version, publish, archive, import and export. Thin: reads through selectors, writes through services.

Reviewers, assessors and admins read published and archived versions; drafts and every change belong to admins
of a root (rubrics are rules of the whole tree). Anyone else gets 404, as for an organization outside their subtree.
"""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from assessments import rubrics, selectors, services
from assessments.forms import (
    GradeBandForm,
    IndicatorForm,
    IndicatorMoveForm,
    RubricCopyForm,
    RubricForm,
    RubricImportConfirmForm,
    RubricImportForm,
    RubricPreviewForm,
)
from assessments.models import GradeBand, Indicator, RubricState
from branches import access
from branches.exports import XLSX
from branches.forms import show_service_errors
from branches.models import Organization
from branches.pages import confirm_page, form_page

SEARCH_LIMIT = 20  # organizations offered for a search; a longer list asks for a closer search


def _reader(request):
    if not selectors.reads_rubrics(request.user):
        raise Http404


def _editor(request):
    """Only admins of a root change rubrics; to anyone else the editing pages do not exist."""
    if not access.administers_rules(request.user):
        raise Http404


def _draft_or_404(request, pk):
    _editor(request)
    rubric = selectors.rubric_or_404(request.user, pk)
    if rubric.state != RubricState.DRAFT:
        raise Http404
    return rubric


def _detail(rubric):
    return reverse("assessments:rubric", args=[rubric.pk])


def _form(request, *, form, title, save, success, back, next_url, rubric=None, danger=False, intro=""):
    """A rubric form page: on a valid POST call the service; its refusals go beside the fields, the rest above."""
    return form_page(
        request,
        organization=None,
        form=form,
        title=title,
        save=save,
        success=success,
        next_url=next_url,
        danger=danger,
        template="assessments/rubric_form.html",
        context={"back": back, "rubric": rubric, "intro": intro},
    )


def _confirm(request, *, rubric, title, intro, act, success, next_url, button, problems=(), danger=True):
    """A confirmation page before an action that cannot be undone; the action runs on POST only."""
    return confirm_page(
        request,
        act=act,
        success=success,
        next_url=next_url,
        template="assessments/rubric_confirm.html",
        context={
            "rubric": rubric,
            "title": title,
            "intro": intro,
            "button": button,
            "problems": problems,
            "danger": danger,
        },
    )


@require_GET
def rubric_list(request):
    _reader(request)
    year = request.GET.get("year", "").strip()
    state = request.GET.get("state", "")
    search = request.GET.get("q", "").strip()[:60]
    rows = selectors.rubrics_for(
        request.user,
        year=int(year) if year.isdigit() else None,
        state=state if state in RubricState.values else "",
        search=search,
    )
    return render(
        request,
        "assessments/rubric_list.html",
        {
            "rubrics": rows[:200],
            "year": year,
            "state": state,
            "q": search,
            "states": RubricState.choices,
            "can_edit": access.administers_rules(request.user),
        },
    )


@require_GET
def rubric_detail(request, pk):
    rubric = selectors.rubric_or_404(request.user, pk)
    tree = rubrics.snapshot(rubric)
    can_edit = access.administers_rules(request.user)
    previous = selectors.previous_version(request.user, rubric)
    return render(
        request,
        "assessments/rubric_detail.html",
        {
            "rubric": rubric,
            "tree": tree,
            "rows": selectors.tree_rows(tree),
            "bands": tree["bands"],
            "versions": selectors.rubric_versions(request.user, rubric),
            "previous": previous,
            "diff": rubrics.worded(rubrics.diff(rubrics.snapshot(previous), tree)) if previous else None,
            "problems": rubrics.problems(tree, complete=True) if rubric.state == RubricState.DRAFT else [],
            "can_edit": can_edit and rubric.state == RubricState.DRAFT,
            "can_admin": can_edit,
        },
    )


@require_GET
def rubric_diff(request, pk, other):
    rubric = selectors.rubric_or_404(request.user, pk)
    against = selectors.rubric_or_404(request.user, other)
    return render(
        request,
        "assessments/rubric_diff.html",
        {
            "rubric": rubric,
            "previous": against,
            "diff": rubrics.worded(rubrics.diff(rubrics.snapshot(against), rubrics.snapshot(rubric))),
        },
    )


@require_GET
def rubric_preview(request, pk):
    """What the rubric (a draft too) would give one organization of the admin's subtree over a half-year or a
    year: each indicator's points and their "why", from the scoring engine run for that organization alone.
    Nothing is written; an organization outside the admin's subtree answers 404."""
    _editor(request)
    rubric = selectors.rubric_or_404(request.user, pk)
    today = timezone.localdate()
    form = RubricPreviewForm(request.GET or None, initial={"year": today.year, "period": "year"})
    organization, found, preview = None, None, None
    if request.GET.get("organization"):
        organization = access.get_scoped_or_404(
            request.user, Organization.objects.all(), access.ADMINISTER, pk=request.GET["organization"]
        )
    if form.is_valid():
        search = form.cleaned_data["q"].strip()
        if search:  # a new search replaces the organization chosen before
            found = list(
                access.scoped(request.user, Organization.objects.all(), access.ADMINISTER)
                .filter(Q(name__icontains=search) | Q(code__icontains=search))
                .order_by("path")[:SEARCH_LIMIT]
            )
            organization = None
        elif organization is not None:
            start, end = form.period_dates()
            if start > today:
                form.add_error("year", _("This period has not begun: there are no records to score yet."))
            else:
                preview = selectors.rubric_preview(
                    rubric, organization, period_start=start, period_end=end, today=today
                )
    query = (
        urlencode({"year": form.cleaned_data["year"], "period": form.cleaned_data["period"]}) if form.is_valid() else ""
    )
    return render(
        request,
        "assessments/rubric_preview.html",
        {
            "rubric": rubric,
            "form": form,
            "organization": organization,
            "found": found,
            "preview": preview,
            "query": query,
            "through": today,
            "period": form.period_dates() if form.is_valid() else None,
        },
    )


@require_GET
def rubric_export(request, pk):
    """The rubric file (JSON, to exchange) or, with ?format=xlsx, a workbook to read."""
    rubric = selectors.rubric_or_404(request.user, pk)
    name = f"{rubric.code}-{rubric.year}-v{rubric.version}"
    tree = rubrics.snapshot(rubric)
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(rubrics.workbook(tree), content_type=XLSX)
        response["Content-Disposition"] = content_disposition_header(True, f"{name}.xlsx")
        return response
    response = HttpResponse(rubrics.dumps(rubrics.export(tree)), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.json")
    return response


@require_http_methods(["GET", "POST"])
def rubric_add(request):
    _editor(request)
    return _form(
        request,
        form=RubricForm(request.POST or None),
        title=_("New rubric"),
        save=lambda data: services.rubric_create(data=data, by=request.user),
        success=_("Created. Add its areas, indicators and grades, then publish it."),
        back=reverse("assessments:rubrics"),
        next_url=_detail,
    )


@require_http_methods(["GET", "POST"])
def rubric_edit(request, pk):
    rubric = _draft_or_404(request, pk)
    return _form(
        request,
        form=RubricForm(request.POST or None, instance=rubric),
        rubric=rubric,
        title=_("Edit the rubric"),
        save=lambda data: services.rubric_edit(rubric=rubric, data=data, by=request.user),
        success=_("Saved."),
        back=_detail(rubric),
        next_url=_detail,
    )


@require_http_methods(["GET", "POST"])
def rubric_copy(request, pk):
    _editor(request)
    source = selectors.rubric_or_404(request.user, pk)
    initial = {"year": source.year + 1, "code": source.code, "title": source.title}
    return _form(
        request,
        form=RubricCopyForm(request.POST or None, initial=initial),
        rubric=source,
        title=_("Copy to a new draft"),
        intro=_("The whole tree and the grades are copied into a new draft; this version stays as it is."),
        save=lambda data: services.rubric_copy(source=source, by=request.user, **data),
        success=_("Copied into a new draft."),
        back=_detail(source),
        next_url=_detail,
    )


@require_http_methods(["GET", "POST"])
def rubric_new_version(request, pk):
    _editor(request)
    rubric = selectors.rubric_or_404(request.user, pk)
    return _confirm(
        request,
        rubric=rubric,
        title=_("Make a new version"),
        intro=_(
            "A published version never changes. A draft copy is made with the next version number; edit and publish it."
        ),
        act=lambda: services.rubric_new_version(rubric=rubric, by=request.user),
        success=_("A new draft version was made."),
        next_url=_detail,
        button=_("Make a new version"),
        danger=False,
    )


@require_http_methods(["GET", "POST"])
def rubric_publish(request, pk):
    rubric = _draft_or_404(request, pk)
    return _confirm(
        request,
        rubric=rubric,
        title=_("Publish"),
        intro=_(
            "Once published this version is frozen: it can no longer change, and rounds can score with it. "
            "A version of the same rubric and year published before is archived."
        ),
        problems=rubrics.problems(rubrics.snapshot(rubric), complete=True),
        act=lambda: services.rubric_publish(rubric=rubric, by=request.user),
        success=_("Published."),
        next_url=_detail,
        button=_("Publish"),
    )


@require_http_methods(["GET", "POST"])
def rubric_archive(request, pk):
    _editor(request)
    rubric = selectors.rubric_or_404(request.user, pk)
    if rubric.state != RubricState.PUBLISHED:
        raise Http404
    return _confirm(
        request,
        rubric=rubric,
        title=_("Archive"),
        intro=_("An archived version is no longer offered for new rounds; rounds that used it keep their results."),
        act=lambda: services.rubric_archive(rubric=rubric, by=request.user),
        success=_("Archived."),
        next_url=_detail,
        button=_("Archive"),
    )


@require_http_methods(["GET", "POST"])
def rubric_delete(request, pk):
    rubric = _draft_or_404(request, pk)
    return _confirm(
        request,
        rubric=rubric,
        title=_("Discard the draft"),
        intro=_("The draft, its indicators and its grades are deleted. This cannot be undone."),
        act=lambda: services.rubric_discard(rubric=rubric, by=request.user),
        success=_("The draft was discarded."),
        next_url=lambda _result: reverse("assessments:rubrics"),
        button=_("Discard"),
    )


@require_http_methods(["GET", "POST"])
def rubric_import(request):
    """Upload → preview (nothing written) → confirm. The confirmation carries the checked contents and is checked
    again, so nothing is kept between the two steps."""
    _editor(request)
    upload = RubricImportForm(request.POST or None, request.FILES or None)
    confirm = RubricImportConfirmForm(request.POST or None) if "payload" in request.POST else None
    preview = None
    if confirm is not None:
        if confirm.is_valid():
            try:
                result = services.rubric_import(
                    data=json.loads(confirm.cleaned_data["payload"]), by=request.user, preview=False
                )
            except (ValidationError, ValueError) as error:
                upload = RubricImportForm()
                upload.add_error(
                    None, error.messages if isinstance(error, ValidationError) else _("The file is not valid JSON.")
                )
            else:
                messages.success(request, _("Imported as a new draft."))
                return redirect(_detail(result.rubric))
        else:
            upload = RubricImportForm()
    elif request.method == "POST" and upload.is_valid():
        try:
            preview = services.rubric_import(file=upload.cleaned_data["file"], by=request.user, preview=True)
        except ValidationError as error:
            show_service_errors(upload, error)
    context = {"form": upload, "preview": preview}
    if preview is not None:
        context.update(
            rows=selectors.tree_rows(preview.tree),
            payload=json.dumps(rubrics.export(preview.tree), ensure_ascii=False),
        )
    return render(request, "assessments/rubric_import.html", context)


@require_http_methods(["GET", "POST"])
def indicator_add(request, pk):
    rubric = _draft_or_404(request, pk)
    parent = None
    if request.GET.get("parent", "").isdigit():
        parent = get_object_or_404(Indicator, pk=request.GET["parent"], rubric=rubric)
    title = _("Add an indicator")
    if parent is not None:
        title = _("Add an indicator to “%(area)s”") % {"area": parent.title}
    return _form(
        request,
        form=IndicatorForm(request.POST or None),
        rubric=rubric,
        title=title,
        save=lambda data: services.indicator_add(rubric=rubric, parent=parent, data=data, by=request.user),
        success=_("Added."),
        back=_detail(rubric),
        next_url=lambda _indicator: _detail(rubric),
    )


def _indicator_of_draft(request, pk):
    _editor(request)
    indicator = get_object_or_404(Indicator.objects.select_related("rubric"), pk=pk)
    if indicator.rubric.state != RubricState.DRAFT:
        raise Http404
    return indicator


@require_http_methods(["GET", "POST"])
def indicator_edit(request, pk):
    indicator = _indicator_of_draft(request, pk)
    rubric = indicator.rubric
    return _form(
        request,
        form=IndicatorForm(request.POST or None, instance=indicator),
        rubric=rubric,
        title=_("Edit “%(title)s”") % {"title": indicator.title},
        save=lambda data: services.indicator_edit(indicator=indicator, data=data, by=request.user),
        success=_("Saved."),
        back=_detail(rubric),
        next_url=lambda _indicator: _detail(rubric),
    )


@require_http_methods(["GET", "POST"])
def indicator_move(request, pk):
    """Into another area (a form), or one place up or down among its siblings (the tree's arrow buttons)."""
    indicator = _indicator_of_draft(request, pk)
    rubric = indicator.rubric
    if request.method == "POST" and request.POST.get("step") in ("-1", "1"):
        try:
            services.indicator_shift(indicator=indicator, step=int(request.POST["step"]), by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect(_detail(rubric) + f"#indicator-{indicator.pk}")
    form = IndicatorMoveForm(request.POST or None, indicator=indicator, initial={"parent": indicator.parent_id or ""})

    def save(data):
        parent = Indicator.objects.get(pk=data["parent"], rubric=rubric) if data["parent"] else None
        return services.indicator_move(indicator=indicator, parent=parent, by=request.user)

    return _form(
        request,
        form=form,
        rubric=rubric,
        title=_("Move “%(title)s”") % {"title": indicator.title},
        save=save,
        success=_("Moved."),
        back=_detail(rubric),
        next_url=lambda _indicator: _detail(rubric),
    )


@require_http_methods(["GET", "POST"])
def indicator_delete(request, pk):
    indicator = _indicator_of_draft(request, pk)
    rubric = indicator.rubric
    return _confirm(
        request,
        rubric=rubric,
        title=_("Delete “%(title)s”") % {"title": indicator.title},
        intro=_("The indicator and every indicator under it are deleted from this draft."),
        act=lambda: services.indicator_delete(indicator=indicator, by=request.user),
        success=_("Deleted."),
        next_url=lambda _result: _detail(rubric),
        button=_("Delete"),
    )


@require_http_methods(["GET", "POST"])
def band_add(request, pk):
    rubric = _draft_or_404(request, pk)
    return _form(
        request,
        form=GradeBandForm(request.POST or None),
        rubric=rubric,
        title=_("Add a grade"),
        save=lambda data: services.band_add(rubric=rubric, data=data, by=request.user),
        success=_("Added."),
        back=_detail(rubric),
        next_url=lambda _band: _detail(rubric) + "#grades",
    )


def _band_of_draft(request, pk):
    _editor(request)
    band = get_object_or_404(GradeBand.objects.select_related("rubric"), pk=pk)
    if band.rubric.state != RubricState.DRAFT:
        raise Http404
    return band


@require_http_methods(["GET", "POST"])
def band_edit(request, pk):
    band = _band_of_draft(request, pk)
    return _form(
        request,
        form=GradeBandForm(request.POST or None, instance=band),
        rubric=band.rubric,
        title=_("Edit the grade “%(name)s”") % {"name": band.name},
        save=lambda data: services.band_edit(band=band, data=data, by=request.user),
        success=_("Saved."),
        back=_detail(band.rubric),
        next_url=lambda _band: _detail(band.rubric) + "#grades",
    )


@require_http_methods(["GET", "POST"])
def band_delete(request, pk):
    band = _band_of_draft(request, pk)
    return _confirm(
        request,
        rubric=band.rubric,
        title=_("Delete the grade “%(name)s”") % {"name": band.name},
        intro=_("The grade is deleted from this draft."),
        act=lambda: services.band_delete(band=band, by=request.user),
        success=_("Deleted."),
        next_url=lambda _result: _detail(band.rubric) + "#grades",
        button=_("Delete"),
    )
