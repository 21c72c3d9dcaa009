"""Pages for duties, inspections and rectification. Thin: scope through access, write through services."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from assessments import exports, selectors, services
from assessments.forms import (
    FindingForm,
    FindingMoveForm,
    InspectionForm,
    IssueForm,
    ItemCompleteForm,
    OwnItemForm,
    TemplateForm,
    TemplateItemFormSet,
)
from assessments.models import (
    BuildingArea,
    Finding,
    FindingState,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityTemplate,
)
from branches import access
from branches.forms import show_service_errors
from branches.models import Organization, OrganizationKind, Sector
from branches.pages import form_page, history_url


def _organization(request, pk, action=access.VIEW):
    return access.get_scoped_or_404(request.user, Organization.objects.all(), action=action, pk=pk)


def home_section(user, branch, today):
    """The branch's home shows its overdue and soon-due duties and its rectifications to do."""
    waiting = selectors.waiting_on(branch, today)
    context = {"waiting": waiting, "todo_url": reverse("assessments:todo", args=[branch.pk])}
    return "assessments/_home_waiting.html", context


@require_GET
def todo(request, pk):
    """The secretary's to-do: duties, rectifications and meetings owed, nearest deadline first."""
    organization = _organization(request, pk)
    today = timezone.localdate()
    entries = selectors.todo_for(request.user, organization, today)
    return render(
        request,
        "assessments/todo.html",
        {
            "organization": organization,
            "entries": entries,
            "today": today,
            "overdue": sum(1 for e in entries if e.overdue),
            "can_edit": access.can(request.user, access.EDIT, organization) and organization.is_active,
        },
    )


@require_http_methods(["GET", "POST"])
def item_add(request, pk):
    organization = _organization(request, pk, access.EDIT)
    year = timezone.localdate().year
    return form_page(
        request,
        organization=organization,
        form=OwnItemForm(request.POST or None),
        title=_("Add a duty of our own"),
        save=lambda data: services.item_add(organization=organization, year=year, data=data, by=request.user),
        success=_("Added."),
        next_url=lambda item: reverse("assessments:todo", args=[organization.pk]),
    )


@require_http_methods(["GET", "POST"])
def item_detail(request, pk):
    """A duty, its evidence and history; its organization completes it here."""
    item = access.get_scoped_or_404(
        request.user,
        ResponsibilityItem.objects.select_related("organization", "evidence_file", "evidence_meeting", "completed_by"),
        pk=pk,
    )
    can_edit = access.can(request.user, access.EDIT, item.organization) and item.status == ItemStatus.OPEN
    form = ItemCompleteForm(
        request.POST or None, request.FILES or None, organization=item.organization, initial={"version": item.version}
    )
    if request.method == "POST" and not can_edit:
        raise Http404
    return form_page(
        request,
        organization=item.organization,
        form=form,
        template="assessments/item_detail.html",
        save=lambda data: services.item_complete(
            item=item,
            by=request.user,
            version=data["version"],
            note=data["note"],
            upload=data["file"],
            meeting=data["meeting"],
        ),
        success=_("Marked done."),
        next_url=lambda done: reverse("assessments:todo", args=[item.organization_id]),
        context={
            "item": item,
            "can_edit": can_edit,
            "overdue": item.is_overdue(timezone.localdate()),
            "history_url": history_url(request.user, item),
        },
    )


@require_http_methods(["GET", "POST"])
def issue(request, pk):
    """下发: a template goes to every matching organization of the subtree in one action."""
    root = _organization(request, pk, access.REVIEW)
    templates = access.scoped(request.user, ResponsibilityTemplate.objects.all(), access.REVIEW, via="owner")
    return form_page(
        request,
        organization=root,
        form=IssueForm(request.POST or None, templates=templates),
        title=_("Issue a responsibility list"),
        danger=True,
        save=lambda data: services.template_issue(template=data["template"], root=root, by=request.user),
        success=lambda result: (
            _("Issued to %(lists)d organizations (%(items)d items); %(already)d already had it.")
            % {"lists": result.lists, "items": result.items, "already": result.already}
        ),
        next_url=lambda result: reverse("assessments:three_lists", args=[root.pk]) + "?list=duties",
    )


@require_http_methods(["GET", "POST"])
def inspection_add(request, pk):
    organization = _organization(request, pk)
    if not services.may_inspect(request.user, organization):
        raise Http404
    return form_page(
        request,
        organization=organization,
        form=InspectionForm(request.POST or None),
        title=_("Record an inspection"),
        save=lambda data: services.inspection_create(organization=organization, data=data, by=request.user),
        success=_("Inspection recorded. Add its findings."),
        next_url=lambda inspection: reverse("assessments:inspection", args=[inspection.pk]),
    )


@require_http_methods(["GET", "POST"])
def inspection_detail(request, pk):
    inspection = access.get_scoped_or_404(
        request.user, Inspection.objects.select_related("organization", "inspector"), pk=pk
    )
    may_inspect = services.may_inspect(request.user, inspection.organization)
    form = FindingForm(request.POST or None, organization=inspection.organization)
    if request.method == "POST" and not may_inspect:
        raise Http404
    return form_page(
        request,
        organization=inspection.organization,
        form=form,
        template="assessments/inspection_detail.html",
        save=lambda data: services.finding_add(inspection=inspection, data=data, by=request.user),
        success=_("Finding added."),
        next_url=lambda finding: reverse("assessments:inspection", args=[inspection.pk]),
        context={
            "inspection": inspection,
            "may_inspect": may_inspect,
            "today": timezone.localdate(),
            "findings": inspection.findings.select_related("responsible_cadre"),
        },
    )


ACTION_LABELS = {
    FindingState.IN_PROGRESS: _("Start rectifying"),
    FindingState.SUBMITTED: _("Submit the rectification"),
    FindingState.VERIFIED: _("Verify and close"),
    FindingState.RETURNED: _("Send back"),
}


@require_http_methods(["GET", "POST"])
def finding_detail(request, pk):
    """A finding, its rectification and every step so far; the actions the user may take now."""
    finding = access.get_scoped_or_404(
        request.user,
        Finding.objects.select_related("organization", "inspection", "responsible_cadre", "evidence_file"),
        pk=pk,
    )
    moves = services.finding_moves(request.user, finding)
    form = FindingMoveForm(request.POST or None, request.FILES or None, initial={"version": finding.version})
    if request.method == "POST":
        if not moves:
            raise Http404
        if form.is_valid():
            try:
                step = {
                    "finding": finding,
                    "by": request.user,
                    "version": form.cleaned_data["version"],
                    "note": form.cleaned_data["note"],
                    "upload": form.cleaned_data["file"],
                }
                if form.cleaned_data["to_state"] == FindingState.SUBMITTED:
                    services.finding_submit(**step)  # from "open" too: started and submitted in one step
                else:
                    services.finding_move(to_state=form.cleaned_data["to_state"], **step)
            except PermissionDenied:
                raise Http404 from None
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Done: the finding is now “%(state)s”.")
                    % {"state": FindingState(form.cleaned_data["to_state"]).label},
                )
                return redirect("assessments:finding", pk=finding.pk)
    return render(
        request,
        "assessments/finding_detail.html",
        {
            "finding": finding,
            "organization": finding.organization,
            "form": form,
            "moves": [(state, ACTION_LABELS[state]) for state in sorted(moves)],
            "transitions": finding.transitions.select_related("by"),
            "overdue": finding.is_overdue(timezone.localdate()),
            "history_url": history_url(request.user, finding),
        },
    )


@require_GET
def findings_queue(request, pk):
    """The inspectors' queue: submitted rectifications to judge first, then what is still open."""
    root = _organization(request, pk)
    if not services.may_inspect(request.user, root):
        raise Http404
    page = Paginator(selectors.inspector_queue(request.user, root), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "assessments/findings_queue.html",
        {
            "organization": root,
            "page": page,
            "today": timezone.localdate(),
            "query": "",
        },
    )


@require_GET
def three_lists(request, pk):
    """问题清单, 责任清单, 整改清单 of the subtree, with overdue counts, filters and export."""
    root = _organization(request, pk, access.REVIEW)
    today = timezone.localdate()
    which = request.GET.get("list", "problems")
    which = which if which in selectors.THREE_LISTS else "problems"
    filters = {
        "sector": request.GET.get("sector", ""),
        "kind": request.GET.get("kind", ""),
        "area": request.GET.get("area", ""),
        "status": request.GET.get("status", ""),
        "overdue": request.GET.get("overdue") == "1",
    }
    rows = selectors.three_lists(request.user, root, which, today=today, **filters)
    if request.GET.get("format") in ("csv", "xlsx"):
        return exports.three_list(rows, which, root, request.GET["format"], today)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    statuses = ItemStatus.choices if which == "duties" else FindingState.choices
    return render(
        request,
        "assessments/three_lists.html",
        {
            "organization": root,
            "which": which,
            "page": page,
            "filters": filters,
            "today": today,
            "counts": selectors.three_list_counts(request.user, root, today),
            "query": query.urlencode(),
            "sectors": Sector.choices,
            "areas": BuildingArea.choices,
            "statuses": statuses,
            "kinds": [(k.value, k.label) for k in OrganizationKind if k != OrganizationKind.PARTY_GROUP],
            "can_issue": access.can(request.user, access.REVIEW, root),
        },
    )


@require_GET
def templates(request, pk):
    """The responsibility-list templates written in this subtree, to edit or to issue."""
    root = _organization(request, pk, access.REVIEW)
    rows = (
        access.scoped(
            request.user,
            ResponsibilityTemplate.objects.filter(owner__path__startswith=root.path),
            access.REVIEW,
            via="owner",
        )
        .select_related("owner")
        .order_by("-year", "title")
    )
    return render(request, "assessments/templates.html", {"organization": root, "templates": rows})


@require_http_methods(["GET", "POST"])
def template_edit(request, pk, template_pk=None):
    """Write a standard list: its items by building area, each with a due date and the post responsible.

    Issued lists are copies, so saving here changes none of them.
    """
    root = _organization(request, pk, access.REVIEW)
    template = None
    if template_pk is not None:
        template = access.get_scoped_or_404(
            request.user,
            ResponsibilityTemplate.objects.filter(owner__path__startswith=root.path),
            access.REVIEW,
            via="owner",
            pk=template_pk,
        )
    form = TemplateForm(
        request.POST or None,
        instance=template,
        initial={"year": timezone.localdate().year} if template is None else None,
    )
    items = TemplateItemFormSet(request.POST or None, instance=template or ResponsibilityTemplate())
    if request.method == "POST" and form.is_valid() and items.is_valid():
        try:
            services.template_save(owner=root, form=form, items=items, by=request.user)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("Saved. Issue it from the three lists when it is ready."))
            return redirect("assessments:templates", pk=root.pk)
    return render(
        request,
        "assessments/template_form.html",
        {
            "organization": root,
            "form": form,
            "items": items,
            "template": template,
        },
    )
