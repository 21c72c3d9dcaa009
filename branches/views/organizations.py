"""Pages of the organization tree and its people. Thin: scope through access, write through services."""

import copy

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django_tables2 import RequestConfig

from branches import access, selectors, services, uploads
from branches.filtersets import AuditEntryFilter
from branches.forms import (
    AttachmentForm,
    CadreForm,
    ConfirmForm,
    ElectionForm,
    MemberForm,
    OrganizationCreateForm,
    OrganizationDissolveForm,
    OrganizationForm,
    OrganizationMoveForm,
)
from branches.models import Attachment, Cadre, Member, Organization, OrganizationKind
from branches.pages import form_page
from branches.tables import EditableMemberTable, MemberTable, ReviewedMemberTable

CHILDREN_PAGE_SIZE = 100

__all__ = [
    "attachment_add",
    "attachment_delete",
    "attachment_download",
    "cadre_add",
    "cadre_edit",
    "committee_election",
    "member_add",
    "member_edit",
    "member_list",
    "object_history",
    "organization_add",
    "organization_children",
    "organization_detail",
    "organization_dissolve",
    "organization_edit",
    "organization_history",
    "organization_move",
    "security_events",
    "tree",
]


def _organization(request, pk, action=access.VIEW):
    return access.get_scoped_or_404(request.user, Organization.objects.all(), action=action, pk=pk)


@require_GET
def tree(request):
    """The tree browser: the user's top organizations, expanded lazily; or search results."""
    text = request.GET.get("q", "").strip()
    if text:
        results = selectors.search_organizations(request.user, text)
        page = Paginator(results, 50).get_page(request.GET.get("page"))
        names = selectors.ancestor_names(page.object_list)
        for org in page.object_list:
            org.trail = [names[p] for p in org.ancestor_paths() if p in names]
        return render(request, "branches/tree_search.html", {"q": text, "page": page})
    roots = list(selectors.tree_roots(request.user))
    return render(request, "branches/tree.html", {"roots": roots})


@require_GET
def organization_children(request, pk):
    """One level of the tree, as a fragment for lazy expansion (paged for very wide levels)."""
    organization = _organization(request, pk)
    page = Paginator(selectors.children_of(organization), CHILDREN_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "branches/_tree_children.html", {"parent": organization, "page": page})


@require_GET
def organization_detail(request, pk):
    organization = _organization(request, pk)
    user = request.user
    today = timezone.localdate()
    cadres = list(selectors.current_cadres(organization, today))
    children = Paginator(selectors.children_of(organization), 50).get_page(request.GET.get("page"))
    context = {
        "organization": organization,
        "ancestors": selectors.visible_ancestors(user, organization),
        "cadres": cadres,
        "committee_size": selectors.committee_size(cadres),
        "past_cadres": list(selectors.past_cadres(organization, today)),
        "term": selectors.open_committee_term(organization),
        "member_counts": selectors.member_counts(organization),
        "kind_counts": selectors.subtree_kind_counts(organization),
        "children": children,
        "can_edit": access.can(user, access.EDIT, organization),
        "can_administer": access.can(user, access.ADMINISTER, organization),
        "can_review": access.can(user, access.REVIEW, organization),
        "attachments": list(selectors.attachments_of(organization)[:20]),
        "today": today,
        "cadre_type": ContentType.objects.get_for_model(Cadre).pk,
    }
    return render(request, "branches/organization_detail.html", context)


@require_http_methods(["GET", "POST"])
def organization_edit(request, pk):
    organization = _organization(request, pk, access.ADMINISTER)
    # The form works on a copy, so a refused name never shows up in the page's own headings.
    form = OrganizationForm(request.POST or None, instance=copy.copy(organization))
    return form_page(
        request,
        organization=organization,
        form=form,
        title=_("Edit organization"),
        success=_("Saved."),
        save=lambda data: services.organization_update(organization=organization, data=data, by=request.user),
    )


@require_http_methods(["GET", "POST"])
def organization_add(request, pk):
    parent = _organization(request, pk, access.ADMINISTER)
    form = OrganizationCreateForm(request.POST or None, initial={"sector": parent.sector})

    def save(data):
        data = dict(data)
        return services.organization_create(parent=parent, kind=data.pop("kind"), data=data, by=request.user)

    return form_page(
        request,
        organization=parent,
        form=form,
        title=_("Add a sub-organization"),
        save=save,
        success=lambda child: _("%(name)s was added.") % {"name": child.name},
        next_url=lambda child: reverse("branches:organization", args=[child.pk]),
    )


@require_http_methods(["GET", "POST"])
def organization_move(request, pk):
    organization = _organization(request, pk, access.ADMINISTER)
    candidates = access.scoped(request.user, Organization.objects.filter(status="active"), access.ADMINISTER)
    form = OrganizationMoveForm(request.POST or None, candidates=candidates)
    return form_page(
        request,
        organization=organization,
        form=form,
        title=_("Move organization"),
        save=lambda data: services.organization_move(
            organization=organization, new_parent=data["new_parent"], by=request.user
        ),
        success=lambda moved: _("Moved under %(name)s.") % {"name": form.cleaned_data["new_parent"].name},
    )


@require_http_methods(["GET", "POST"])
def organization_dissolve(request, pk):
    organization = _organization(request, pk, access.ADMINISTER)
    return form_page(
        request,
        organization=organization,
        form=OrganizationDissolveForm(request.POST or None),
        title=_("Dissolve organization"),
        danger=True,
        save=lambda data: services.organization_dissolve(
            organization=organization, on=data["on"], reason=data["reason"], by=request.user
        ),
        success=_("%(name)s is dissolved. Its records are kept.") % {"name": organization.name},
    )


@require_GET
def member_list(request, pk):
    organization = _organization(request, pk)
    text = request.GET.get("q", "")
    include_former = request.GET.get("former") == "1"
    can_edit = access.can(request.user, access.EDIT, organization) and organization.kind == OrganizationKind.BRANCH
    if can_edit:
        table_class = EditableMemberTable
    elif access.can(request.user, access.REVIEW, organization):
        table_class = ReviewedMemberTable
    else:
        table_class = MemberTable
    table = table_class(selectors.members_of(request.user, organization, text, include_former))
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    return render(
        request,
        "branches/member_list.html",
        {
            "organization": organization,
            "table": table,
            "q": text,
            "former": include_former,
            "can_edit": can_edit,
        },
    )


def _memberform_page(request, organization, member=None):
    return form_page(
        request,
        organization=organization,
        form=MemberForm(request.POST or None, instance=member, organization=organization),
        title=_("Edit member") if member else _("Add a member"),
        success=_("Saved."),
        save=lambda data: services.member_save(organization=organization, data=data, member=member, by=request.user),
        next_url=lambda saved: reverse("branches:members", args=[organization.pk]),
    )


@require_http_methods(["GET", "POST"])
def member_add(request, pk):
    organization = _organization(request, pk, access.EDIT)
    if organization.kind != OrganizationKind.BRANCH:
        messages.error(request, _("Members can only be added to a Party branch."))
        return redirect("branches:organization", pk=organization.pk)
    return _memberform_page(request, organization)


@require_http_methods(["GET", "POST"])
def member_edit(request, pk):
    member = access.get_scoped_or_404(request.user, Member.objects.select_related("organization"), access.EDIT, pk=pk)
    return _memberform_page(request, member.organization, member)


def _cadreform_page(request, organization, cadre=None):
    return form_page(
        request,
        organization=organization,
        form=CadreForm(request.POST or None, instance=cadre),
        title=_("Edit cadre") if cadre else _("Add a cadre"),
        success=_("Saved."),
        save=lambda data: services.cadre_save(organization=organization, data=data, cadre=cadre, by=request.user),
    )


@require_http_methods(["GET", "POST"])
def cadre_add(request, pk):
    return _cadreform_page(request, _organization(request, pk, access.EDIT))


@require_http_methods(["GET", "POST"])
def cadre_edit(request, pk):
    cadre = access.get_scoped_or_404(request.user, Cadre.objects.select_related("organization"), access.EDIT, pk=pk)
    return _cadreform_page(request, cadre.organization, cadre)


@require_http_methods(["GET", "POST"])
def committee_election(request, pk):
    """Record a committee election (换届): the old term closes, a new one opens with the rule's length."""
    organization = _organization(request, pk, access.EDIT)
    return form_page(
        request,
        organization=organization,
        form=ElectionForm(request.POST or None),
        title=_("Record a committee election"),
        save=lambda data: services.committee_term_start(
            organization=organization, started_on=data["started_on"], by=request.user
        ),
        success=lambda term: (
            _("Election recorded. The next one is due on %(date)s.") % {"date": date_format(term.expected_election_on)}
        ),
    )


# --- history ---------------------------------------------------------------------------


@require_GET
def organization_history(request, pk):
    """Every change in the organization's subtree, filterable by date, person, record type and action."""
    organization = _organization(request, pk, access.REVIEW)
    entries = AuditEntryFilter(request.GET, queryset=selectors.history_in_subtree(organization))
    page = Paginator(entries.qs, 50).get_page(request.GET.get("page"))
    rows = selectors.history_rows(page.object_list)
    return render(
        request,
        "branches/history.html",
        {
            "organization": organization,
            "filter": entries,
            "page": page,
            "rows": rows,
            "query": _query_without_page(request),
        },
    )


@require_GET
def object_history(request, content_type_id, object_pk):
    """One record's whole history, including after it was deleted."""
    content_type = get_object_or_404(ContentType, pk=content_type_id)
    record = selectors.history_of_object(request.user, content_type, object_pk)
    if record is None:
        raise Http404
    page = Paginator(record.entries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "branches/object_history.html",
        {"record": record, "page": page, "rows": selectors.history_rows(page.object_list), "query": ""},
    )


@require_GET
def security_events(request, pk):
    organization = _organization(request, pk, access.ADMINISTER)
    page = Paginator(selectors.security_events_in_subtree(request.user, organization), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "branches/security_events.html", {"organization": organization, "page": page})


def _query_without_page(request):
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- attachments -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def attachment_add(request, pk):
    organization = _organization(request, pk, access.EDIT)
    return form_page(
        request,
        organization=organization,
        form=AttachmentForm(request.POST or None, request.FILES or None),
        title=_("Upload a document"),
        success=_("Uploaded."),
        save=lambda data: services.attachment_add(
            organization=organization, title=data["title"], upload=data["file"], by=request.user
        ),
    )


@require_GET
def attachment_download(request, pk):
    """Served only inside the user's scope, always as a download, never rendered by the browser."""
    attachment = access.get_scoped_or_404(request.user, Attachment.objects.all(), access.VIEW, pk=pk)
    return uploads.download(attachment)


@require_http_methods(["GET", "POST"])
def attachment_delete(request, pk):
    attachment = access.get_scoped_or_404(
        request.user, Attachment.objects.select_related("organization"), access.EDIT, pk=pk
    )
    if request.method == "GET":  # say at once why the file must stay, rather than after the confirmation
        kept = services.evidence_kept_for(attachment)
        if kept:
            messages.warning(request, kept)
    return form_page(
        request,
        organization=attachment.organization,
        form=ConfirmForm(request.POST or None),
        danger=True,
        title=_("Delete “%(title)s”") % {"title": attachment.title},
        save=lambda data: services.attachment_delete(attachment=attachment, by=request.user),
        success=_("%(title)s was deleted.") % {"title": attachment.title},
    )
