"""Page shapes shared by every app's views."""

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse

from branches import access
from branches.forms import show_service_errors

# What other apps add to a branch's home page (the secretary's landing): callables
# (user, branch, today) -> (template name, context) or None, registered in their AppConfig.ready().
# The ground floor shows them without importing the floors above.
HOME_SECTIONS = []


def home_sections(user, branch, today):
    sections = (section(user, branch, today) for section in HOME_SECTIONS)
    return [section for section in sections if section is not None]


def form_page(
    request,
    *,
    organization,
    form,
    title="",
    save,
    success,
    next_url=None,
    danger=False,
    template="branches/form.html",
    context=None,
):
    """Every form page has this shape: on a valid POST call the service; its refusals go beside the
    fields and everything typed stays; on success say so and move on."""
    if request.method == "POST" and form.is_valid():
        try:
            result = save(form.cleaned_data)
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, success(result) if callable(success) else success)
            return redirect(next_url(result) if next_url else reverse("branches:organization", args=[organization.pk]))
    page = {
        "organization": organization,
        "form": form,
        "title": title,
        "danger": danger,
        "multipart": form.is_multipart(),
        **(context or {}),
    }
    return render(request, template, page)


def confirm_page(request, *, act, success, next_url, template, context):
    """Every confirmation page has this shape: a GET shows what will happen; a POST does it (`act`, a service
    call); its refusals are listed on the page (`errors`), success is said and the page moves on."""
    errors = []
    if request.method == "POST":
        try:
            result = act()
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, success(result) if callable(success) else success)
            return redirect(next_url(result))
    return render(request, template, {**context, "errors": errors})


def history_url(user, record):
    """The record's change history, for those who review its organization ("" for anyone else)."""
    if not access.can(user, access.REVIEW, record.organization):
        return ""
    return reverse("branches:object_history", args=[ContentType.objects.get_for_model(record).pk, record.pk])
