"""Meeting pages: what is owed, the log, the form a secretary fills on a phone, the reviewer's table."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from branches import access, compliance, exports, periods, results, selectors, services
from branches.forms import (
    ComplianceFilterForm,
    ConfirmForm,
    MeetingFilterForm,
    MeetingForm,
    MeetingWhenForm,
    show_service_errors,
)
from branches.models import (
    ComplianceSetting,
    IntegritySignalKind,
    Meeting,
    MeetingType,
    Member,
    OrganizationKind,
    Period,
    held_on_of,
)
from branches.pages import form_page, history_url, home_sections
from branches.views.organizations import _organization

__all__ = [
    "compliance_table",
    "integrity_signals",
    "meeting_add",
    "meeting_delete",
    "meeting_detail",
    "meeting_edit",
    "meeting_list",
    "meetings_owed",
]


def _branch(request, pk, action=access.VIEW):
    """The branch, and None; or None and a redirect to the organization's page when it is not a branch."""
    organization = _organization(request, pk, action)
    if organization.kind != OrganizationKind.BRANCH:
        messages.info(request, _("Meetings are logged by a Party branch."))
        return None, redirect("branches:organization", pk=organization.pk)
    return organization, None


@require_GET
def meetings_owed(request, pk):
    """The secretary's home: each requirement in its current period, held against required, and the deadline."""
    branch, elsewhere = _branch(request, pk)
    if elsewhere:
        return elsewhere
    today = timezone.localdate()
    row = compliance.owed(branch, today)
    statuses = sorted(row.statuses.values(), key=lambda s: (s.fulfilled, s.deadline, s.requirement.meeting_type))
    return render(
        request,
        "branches/meetings_owed.html",
        {
            "organization": branch,
            "today": today,
            "statuses": [(status, (status.deadline - today).days) for status in statuses],
            "attendance_rate": round(row.attendance_rate * 100) if row.attendance_rate is not None else None,
            "recent": list(selectors.meetings_of(request.user, branch)[:5]),
            "can_edit": access.can(request.user, access.EDIT, branch) and branch.is_active,
            "sections": home_sections(request.user, branch, today),
        },
    )


@require_GET
def meeting_list(request, pk):
    branch, elsewhere = _branch(request, pk)
    if elsewhere:
        return elsewhere
    filters = MeetingFilterForm(request.GET or None)
    filters.is_valid()  # a field not understood shows its message; the others still filter
    chosen = {"meeting_type": "", "period": None, "q": "", **getattr(filters, "cleaned_data", {})}
    span = chosen["period"]
    meetings = selectors.meetings_of(
        request.user, branch, meeting_type=chosen["meeting_type"], span=span, text=chosen["q"]
    )
    page = Paginator(meetings, 30).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "branches/meeting_list.html",
        {
            "organization": branch,
            "page": page,
            "filters": filters,
            "span": span,
            "query": query.urlencode(),
            "can_edit": access.can(request.user, access.EDIT, branch) and branch.is_active,
        },
    )


def _expected(request, branch, meeting):
    """Whose attendance the form lists: those expected at a meeting of the chosen type, day and group.

    What is chosen comes from the form as posted, or from the script that asks again for the list when
    the type, day or group changes; otherwise it is the meeting's own (or today and the type asked for).
    """
    if meeting is not None:
        held_on, meeting_type, group = meeting.held_on, meeting.meeting_type, meeting.party_group
    else:
        held_on, meeting_type, group = timezone.localdate(), request.GET.get("type", ""), None
    chosen = request.POST if request.method == "POST" else request.GET
    if "meeting_type" in chosen:
        probe = MeetingWhenForm(chosen)
        probe.is_valid()  # each field that is valid is used; the form itself reports the others
        held_at = probe.cleaned_data.get("held_at")
        held_on = held_on_of(held_at) if held_at else timezone.localdate()
        meeting_type = probe.cleaned_data.get("meeting_type", "")
        group_id = probe.cleaned_data.get("party_group")
        group = None
        if meeting_type == MeetingType.GROUP_MEETING and group_id:
            group = selectors.party_groups_of(branch).filter(pk=group_id).first()
    return selectors.expected_on(branch, held_on, meeting_type, group)


def _meetingform_page(request, branch, meeting=None):
    """Log or correct a meeting. A refused submit comes back with every field as typed."""
    members = _expected(request, branch, meeting)
    initial = {}
    if meeting is not None:
        for row in meeting.attendance.all():
            initial[f"present_{row.member_id}"] = row.present
            initial[f"reason_{row.member_id}"] = row.absence_reason
    else:
        initial = {
            "held_at": timezone.localtime().replace(second=0, microsecond=0),
            "meeting_type": request.GET.get("type", ""),
        }
    form = MeetingForm(
        request.POST or None,
        request.FILES or None,
        instance=meeting,
        initial=initial,
        organization=branch,
        members=members,
    )
    if request.method == "POST" and form.is_valid():
        posted = form.posted_member_ids()
        expected = {m.pk for m in form.members}
        try:
            services.meeting_date_check(branch, form.cleaned_data["held_at"])
        except ValidationError as error:
            show_service_errors(form, error)  # the date first: a wrong day also makes the list look wrong
        if form.errors:
            pass
        elif posted and posted != expected:
            # The list was made for another day or group: show the right one, keeping the ticks.
            held_on = timezone.localtime(form.cleaned_data["held_at"]).date()
            form.add_error(None, _attendance_mismatch(branch, held_on, posted - expected))
        else:
            try:
                saved, warnings = services.meeting_save(
                    organization=branch,
                    data=form.cleaned_data,
                    attendance=form.attendance(),
                    meeting=meeting,
                    by=request.user,
                    files=form.cleaned_data.get("files") or [],
                )
            except ValidationError as error:
                show_service_errors(form, error)
            else:
                messages.success(request, _("The meeting is saved."))
                for warning in warnings:
                    messages.warning(request, warning)
                return redirect(reverse("branches:meeting", args=[saved.pk]) + "?saved=1")
    return render(
        request,
        "branches/meeting_form.html",
        {
            "organization": branch,
            "form": form,
            "meeting": meeting,
            "title": _("Correct the meeting record") if meeting else _("Log a meeting"),
            "draft_key": f"meeting:{request.user.pk}:{branch.pk}:{meeting.pk if meeting else 'new'}",
            "attendees_url": reverse("branches:meeting_add", args=[branch.pk]),
        },
    )


def _attendance_mismatch(branch, held_on, strangers):
    """Say who cannot be on the list, naming only people of this branch (never another branch's members)."""
    members_then = selectors.members_on(branch, held_on).values("pk")
    ours = Member.objects.filter(pk__in=strangers, organization=branch)
    not_then = list(ours.exclude(pk__in=members_then).values_list("name", flat=True)[:10])
    if not_then:
        return _(
            "Not members of this branch on that day: %(names)s. The attendance list has been updated for the "
            "chosen day and group. Please check it and save again."
        ) % {"names": "、".join(not_then)}
    if len(strangers) > ours.count():
        return _(
            "The list named people who are not members of this branch. The attendance list has been updated "
            "for the chosen day and group. Please check it and save again."
        )
    return _(
        "The attendance list has been updated for the chosen meeting type, day and group. "
        "Please check it and save again."
    )


@require_http_methods(["GET", "POST"])
def meeting_add(request, pk):
    branch, elsewhere = _branch(request, pk, access.EDIT)
    if elsewhere:
        return elsewhere
    return _meetingform_page(request, branch)


def _meeting(request, pk, action=access.VIEW):
    return access.get_scoped_or_404(
        request.user,
        Meeting.objects.select_related("organization", "party_group", "logged_by", "updated_by"),
        action,
        pk=pk,
    )


@require_http_methods(["GET", "POST"])
def meeting_edit(request, pk):
    meeting = _meeting(request, pk, access.EDIT)
    return _meetingform_page(request, meeting.organization, meeting)


@require_GET
def meeting_detail(request, pk):
    """The meeting record, laid out to print on A4 for the branch's files (台账)."""
    meeting = _meeting(request, pk)
    attendance = list(meeting.attendance.select_related("member").order_by("member__name", "member_id"))
    committee = set(
        selectors.committee_members_on(meeting.organization, meeting.held_on).values_list("member_id", flat=True)
    )
    committee.discard(None)
    present_committee = sum(1 for row in attendance if row.present and row.member_id in committee)
    return render(
        request,
        "branches/meeting_detail.html",
        {
            "meeting": meeting,
            "organization": meeting.organization,
            "present": [row for row in attendance if row.present],
            "absent": [row for row in attendance if not row.present],
            "attachments": list(meeting.attachments.all()),
            "no_quorum": meeting.meeting_type == MeetingType.COMMITTEE_MEETING
            and committee
            and present_committee * 2 <= len(committee),
            "can_edit": access.can(request.user, access.EDIT, meeting.organization),
            "history_url": history_url(request.user, meeting),
            "saved": request.GET.get("saved") == "1",
            "logged_by": _person(meeting.logged_by),
            "updated_by": _person(meeting.updated_by) if meeting.updated_by_id else "",
        },
    )


def _person(user):
    return (user.get_full_name() or user.get_username()) if user else "—"


@require_http_methods(["GET", "POST"])
def meeting_delete(request, pk):
    meeting = _meeting(request, pk, access.EDIT)
    branch = meeting.organization
    return form_page(
        request,
        organization=branch,
        form=ConfirmForm(request.POST or None),
        danger=True,
        title=_("Delete the meeting of %(day)s: %(topic)s") % {"day": meeting.held_on, "topic": meeting.topic},
        save=lambda data: services.meeting_delete(meeting=meeting, by=request.user),
        success=_("The meeting was deleted. The audit trail keeps its record."),
        next_url=lambda result: reverse("branches:meetings", args=[branch.pk]),
    )


SORTS = {
    "name": lambda row: row.organization.name,
    "code": lambda row: row.organization.code,
    # Failures first, then what is still running, then the tree order.
    "met": lambda row: (-row.requirements_not_met, -row.requirements_in_progress, row.organization.path),
    "attendance": lambda row: row.attendance_rate if row.attendance_rate is not None else -1,
}


@require_GET
def compliance_table(request, pk):
    """For a reviewer: every organization of the subtree over a period, held against required per type.

    A committee or general branch stands for its branches: each cell counts the branches meeting the rule.
    """
    organization = _organization(request, pk, access.REVIEW)
    today = timezone.localdate()
    filters = ComplianceFilterForm(request.GET)
    filters.is_valid()
    chosen = filters.cleaned_data
    span = chosen.get("period") or periods.span_of(Period.QUARTER, today)
    sector = chosen.get("sector") or ""
    kind = chosen.get("kind") or OrganizationKind.BRANCH
    sort = request.GET.get("sort", "met")
    context = {
        "organization": organization,
        "filters": filters,
        "span": span,
        "sort": sort,
        "sector": sector,
        "kind": kind,
        "period_text": request.GET.get("period", span.key),
        "previous": periods.shift(span, -1),
        "next": periods.shift(span, 1),
    }
    if "period" in filters.errors:  # the box keeps what was typed and says what is wrong; no other period shown
        return render(request, "branches/compliance_table.html", {**context, "page": None, "rows_total": 0})
    exporting = request.GET.get("format") in ("csv", "xlsx")
    if kind == OrganizationKind.BRANCH and not exporting and sort.lstrip("-") in RANKED and results.covers(span):
        # Ranked and paged in SQL over the kept results: only the page's rows are built.
        candidates = selectors.compliance_candidates_queryset(
            request.user, organization, span, sector=sector, kind=kind
        )
        count = candidates.count()  # the plain count: the ranking's aggregate is not needed for it
        few = count <= FEW
        paginator = Paginator(RANKED[sort.lstrip("-")](candidates, span, today, sort.startswith("-"), few), 50)
        paginator.count = count
        page = paginator.get_page(request.GET.get("page"))
        if few:  # the columns came with the page: the types any candidate is judged on
            judged = results.Ranking.judged_types(page.object_list)
        else:
            judged = results.types_judged(organization, span, today, kind, sector)
        page.object_list = results.for_span(list(page.object_list), span, today, covered=True)
        types = [t for t in MeetingType if t.value in judged]
        columns = [(t, _column_span(page.object_list, t.value)) for t in types]
        return _compliance_page(request, context, page, columns, paginator.count)
    orgs = selectors.compliance_candidates(request.user, organization, span, sector=sector, kind=kind)
    if kind == OrganizationKind.BRANCH:
        rows = results.for_span(orgs, span, today, within=organization)
    else:
        branches = selectors.compliance_candidates(request.user, organization, span, kind=OrganizationKind.BRANCH)
        rows = compliance.summarize(orgs, results.for_span(branches, span, today, within=organization))
    rows.sort(key=SORTS.get(sort.lstrip("-"), SORTS["met"]), reverse=sort.startswith("-"))
    types = [t for t in MeetingType if any(t.value in row.statuses for row in rows)]
    columns = [(t, _column_span(rows, t.value)) for t in types]
    if request.GET.get("format") in ("csv", "xlsx"):
        return exports.compliance(rows, columns, span, organization, request.GET["format"])
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return _compliance_page(request, context, page, columns, len(rows))


def _compliance_page(request, context, page, columns, rows_total):
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "branches/compliance_table.html",
        {**context, "page": page, "columns": columns, "query": query.urlencode(), "rows_total": rows_total},
    )


def _ranked_by_state(candidates, span, today, reverse, few):
    return results.Ranking(candidates, span, today, reverse, few)


def _ordered_by(field):
    def ordered(candidates, span, today, reverse, few):
        if few:  # paged with the standings, which give a small subtree's columns
            return results.Ranking(candidates, span, today, reverse, few, order=field)
        return candidates.order_by(f"-{field}" if reverse else field, "path")

    return ordered


# Up to this many organizations, the table's columns come from their own standings (results.Ranking.judged_types).
FEW = 2000

# The sorts the table ranks in SQL when results are kept for the period (attendance sorts the built rows).
RANKED = {"met": _ranked_by_state, "name": _ordered_by("name"), "code": _ordered_by("code")}


def _column_span(rows, meeting_type):
    """What a column is judged over, when all its cells agree (they do unless a sector's rule differs)."""
    spans = {row.statuses[meeting_type].judged_over for row in rows if meeting_type in row.statuses}
    return spans.pop() if len(spans) == 1 else ""


SIGNALS_PER_PAGE = 20


def _year_of(text, default):
    """The year asked for in the query string, or `default` when it is missing or not a year the portal knows."""
    try:
        year = int(text)
    except (TypeError, ValueError):
        return default
    return year if periods.FIRST_YEAR <= year <= periods.LAST_YEAR else default


@require_GET
def integrity_signals(request, pk):
    """台账质量提示: the signals of a subtree over a year, each with the records behind it; for those who oversee
    the subtree (the dashboard's users), since a similar minute names another branch's meeting."""
    organization = _organization(request, pk, access.OVERSEE)
    year = _year_of(request.GET.get("year"), timezone.localdate().year)
    kind = request.GET.get("kind", "")
    kind = kind if kind in IntegritySignalKind.values else ""
    page = Paginator(selectors.integrity_signals_of(organization, year, kind), SIGNALS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query = f"year={year}" + (f"&kind={kind}" if kind else "")
    return render(
        request,
        "branches/integrity_signals.html",
        {
            "organization": organization,
            "ancestors": selectors.visible_ancestors(request.user, organization, access.OVERSEE),
            "year": year,
            "kind": kind,
            "counts": selectors.integrity_signal_counts(organization, year),
            "page": page,
            "signals": selectors.integrity_signal_records(request.user, page.object_list),
            "query": query,
            "late_days": ComplianceSetting.current().late_log_days,
        },
    )
