"""Every form of the portal, found by walking the apps' modules, so that a new form cannot regress.

- A browser's date input takes only ISO values (2024-05-05); Chinese pages used to send 2024/05/05,
  which the browser dropped, so edit forms showed empty dates and saving submitted them empty.
- A refused submit cannot send chosen files back to the browser; each file field says which files
  must be chosen again.
"""

import importlib
import pkgutil
import re
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import django_filters
import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.utils import translation
from django.utils.datastructures import MultiValueDict

from assessments.forms import FindingMoveForm, ItemCompleteForm
from branches.forms import AttachmentForm, ChosenFilesForm, MeetingForm

APPS = ("branches", "assessments", "portal")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def project_modules():
    for app in APPS:
        package = importlib.import_module(app)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" not in info.name and not info.name.endswith((".wsgi", ".celery")):
                yield importlib.import_module(info.name)


def project_forms():
    """(where, form class) for every form, formset form and filter set the apps define or build."""
    found = {}
    for module in project_modules():
        for name, value in vars(module).items():
            if not isinstance(value, type):
                continue
            if issubclass(value, forms.BaseFormSet) and hasattr(value, "form"):
                value = value.form
            ours = value.__module__.startswith(APPS)
            built = value.__module__.startswith("django.forms")  # by a factory (formsets, modelform_factory)
            if (issubclass(value, forms.BaseForm) and (ours or built)) or (
                issubclass(value, django_filters.FilterSet) and ours
            ):
                found.setdefault(value, f"{module.__name__}.{name}")
    return found


def fields_of(form_class):
    """(name, form field) of a form class, or of a filter set's filters (without building querysets)."""
    if issubclass(form_class, django_filters.FilterSet):
        return [
            (name, f.field)
            for name, f in form_class.base_filters.items()
            if issubclass(f.field_class, (forms.DateField, forms.DateTimeField))
        ]
    return list(form_class.base_fields.items())


def date_fields():
    return [
        (f"{where}.{name}", field)
        for form_class, where in project_forms().items()
        for name, field in fields_of(form_class)
        if isinstance(field, (forms.DateField, forms.DateTimeField))
    ]


def test_the_walk_finds_the_date_fields_of_every_kind_of_form():
    found = {where.rsplit(".", 2)[-2] + "." + where.rsplit(".", 1)[-1] for where, _ in date_fields()}
    assert {
        "CadreForm.term_start",
        "MemberForm.joined_party_on",
        "OrganizationForm.founded_on",
        "MeetingForm.held_at",
        "FindingForm.deadline",
        "InspectionForm.held_on",
        "AuditEntryFilter.since",
        "TemplateItemFormSet.due_on",
    } <= found


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_date_input_of_every_form_shows_an_iso_date_in_every_language(language):
    may_5 = date(2024, 5, 5)
    at_0930 = datetime(2024, 5, 5, 1, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Beijing
    wrong = []
    with translation.override(language):
        for where, field in date_fields():
            if isinstance(field, forms.DateTimeField):
                value, expected = at_0930, 'value="2024-05-05T09:30"'
            else:
                value, expected = may_5, 'value="2024-05-05"'
            html = field.widget.render("x", field.prepare_value(value))
            if expected not in html:
                wrong.append(f"{where}: {html}")
    assert wrong == [], "date inputs must carry ISO values, whatever the language"


def test_every_form_with_a_file_field_says_when_the_files_must_be_chosen_again():
    with_files = [
        where
        for form_class, where in project_forms().items()
        if any(isinstance(field, forms.FileField) for _, field in fields_of(form_class))
        and not issubclass(form_class, ChosenFilesForm)
    ]
    assert with_files == [], "forms with file inputs must be ChosenFilesForm"


def photo(name="照片.jpg"):
    return SimpleUploadedFile(name, b"\xff\xd8\xff\xe0 not really a photo", content_type="image/jpeg")


def test_a_refused_duty_completion_names_the_file_to_choose_again(county):
    form = ItemCompleteForm(
        {"version": "stale", "note": "学习了"}, MultiValueDict({"file": [photo()]}), organization=county.east
    )
    with translation.override("zh-hans"):
        assert not form.is_valid()
    assert "提交未成功，已选择的文件“照片.jpg”需要重新选择。" in form.errors["file"]


def test_a_refusal_by_the_service_also_names_the_files_and_says_it_once(county):
    form = FindingMoveForm(
        {"to_state": "submitted", "version": "1", "note": "已整改"}, MultiValueDict({"file": [photo()]})
    )
    assert form.is_valid()
    with translation.override("zh-hans"):
        form.add_error("note", "请写明整改情况。")
        form.add_error(None, "已被他人处理。")
    assert form.errors["file"] == ["提交未成功，已选择的文件“照片.jpg”需要重新选择。"]


def test_every_file_of_a_refused_meeting_is_named(county):
    files = MultiValueDict({"files": [photo("一.jpg"), photo("二.png")]})
    form = MeetingForm({"meeting_type": "party_lecture"}, files, organization=county.east, members=[])
    with translation.override("zh-hans"):
        assert not form.is_valid()
    assert "提交未成功，已选择的文件“一.jpg”、“二.png”需要重新选择。" in form.errors["files"]


def test_a_refused_form_without_chosen_files_says_nothing_about_files(county):
    form = AttachmentForm({"title": ""}, MultiValueDict())
    assert not form.is_valid()
    assert "file" in form.errors and "chosen again" not in str(form.errors["file"])


def admin_date_fields(rf):
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    request = rf.get("/admin/")
    request.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        for name, field in model_admin.get_form(request).base_fields.items():
            if isinstance(field, (forms.DateField, forms.DateTimeField, forms.SplitDateTimeField)):
                yield f"{model.__name__}.{name}", field


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_date_in_the_admin_reads_back_as_the_same_date_in_every_language(rf, language):
    """The admin's date boxes are text boxes with its calendar, in the language's own format: fine, as long
    as what is shown is read back as the same date."""
    at_0930 = datetime(2024, 5, 5, 9, 30, tzinfo=SHANGHAI)
    stored = {forms.DateField: date(2024, 5, 5), forms.SplitDateTimeField: at_0930, forms.DateTimeField: at_0930}
    wrong = []
    with translation.override(language):
        for where, field in admin_date_fields(rf):
            value = stored[type(field)]
            html = field.widget.render("x", field.prepare_value(value))
            inputs = dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', html))
            shown = field.widget.value_from_datadict(QueryDict(urlencode(inputs)), {}, "x")
            if field.clean(shown) != value:
                wrong.append(f"{where}: {html}")
    assert wrong == []
