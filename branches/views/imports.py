"""The workbook of organizations, members and cadres: template, export of a subtree, upload → preview → apply."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from branches import access, jobs, selectors, services, tasks, workbook
from branches.exports import XLSX
from branches.forms import WorkbookUploadForm, show_service_errors
from branches.models import ImportState, Organization, WorkbookImport

__all__ = [
    "workbook_export",
    "workbook_import",
    "workbook_import_apply",
    "workbook_import_detail",
    "workbook_import_file",
    "workbook_template",
]


def _download(content, filename):
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@require_GET
def workbook_template(request):
    """The empty workbook, for anyone who administers part of the tree."""
    if not access.has_any(request.user, access.ADMINISTER):
        raise Http404
    return _download(workbook.template(), _("organizations-members-cadres-template") + ".xlsx")


@require_GET
def workbook_export(request, pk):
    """The subtree under an organization as the import workbook (export → edit → import round-trips)."""
    organization = access.get_scoped_or_404(request.user, Organization.objects.all(), access.VIEW, pk=pk)
    stamp = timezone.localdate().isoformat()
    what = _("organizations-members-cadres")
    return _download(workbook.export(organization), f"{organization.name}-{what}-{stamp}.xlsx")


def _run(task, service, record, user):
    """A large workbook goes to a worker; a small one (or any, when the queue is away) is done in the request."""
    if record.size > settings.WORKBOOK_INLINE_MAX_BYTES and jobs.enqueue(task, import_id=record.pk, user_id=user.pk):
        return
    service(record=record, by=user)


@require_http_methods(["GET", "POST"])
def workbook_import(request, pk):
    organization = access.get_scoped_or_404(request.user, Organization.objects.all(), access.ADMINISTER, pk=pk)
    form = WorkbookUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = services.workbook_upload(
                organization=organization, upload=form.cleaned_data["file"], by=request.user
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            _run(tasks.workbook_check, services.workbook_check, record, request.user)
            return redirect("branches:workbook_import_detail", pk=record.pk)
    return render(
        request,
        "branches/workbook_import.html",
        {
            "organization": organization,
            "ancestors": selectors.visible_ancestors(request.user, organization),
            "form": form,
            "imports": WorkbookImport.objects.filter(organization=organization).select_related("uploaded_by")[:10],
        },
    )


def _record(request, pk):
    return access.get_scoped_or_404(
        request.user, WorkbookImport.objects.select_related("organization", "uploaded_by"), access.ADMINISTER, pk=pk
    )


@require_GET
def workbook_import_detail(request, pk):
    """The preview: counts to create, update, leave and refuse per sheet; refused rows with the reason by cell."""
    record = _record(request, pk)
    preview = record.preview or {}
    sheets = [
        {"title": workbook._in_file_language(sheet.title), "counts": preview.get("counts", {}).get(sheet.key, {})}
        for sheet in workbook.SHEETS
    ]
    shown = preview.get("shown", {})
    return render(
        request,
        "branches/workbook_import_detail.html",
        {
            "record": record,
            "organization": record.organization,
            "ancestors": selectors.visible_ancestors(request.user, record.organization),
            "sheets": sheets,
            "refused": shown.get("refused", []),
            "created": shown.get("create", []),
            "updated": shown.get("update", []),
            "shown_limit": workbook.SHOWN_ROWS,
        },
    )


@require_POST
def workbook_import_apply(request, pk):
    record = _record(request, pk)
    try:
        _run(tasks.workbook_apply, services.workbook_apply, record, request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        record.refresh_from_db()
        if record.state == ImportState.APPLIED:
            messages.success(request, _("The workbook is applied."))
    return redirect("branches:workbook_import_detail", pk=record.pk)


@require_GET
def workbook_import_file(request, pk):
    """The file as uploaded, kept with the import as its record."""
    record = _record(request, pk)
    response = FileResponse(record.file.open("rb"), content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, record.original_name)
    response["X-Content-Type-Options"] = "nosniff"
    return response
