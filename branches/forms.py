from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext

from branches import periods
from branches.models import (
    AbsenceReason,
    Cadre,
    Meeting,
    MeetingType,
    Member,
    Organization,
    OrganizationKind,
    Sector,
)
from branches.validators import reject_markup, validate_code
from branches.widgets import ISO_DATETIME_LOCAL, DateInput, DateTimeInput


class ChosenFilesForm:
    """For a form with file inputs. A refused submit cannot hand the chosen files back to the browser,
    so each file field that had files says which ones must be chosen again (the rest of the form
    comes back as typed). Every refusal passes through add_error: the form's own checks and the
    service's (show_service_errors) alike."""

    def add_error(self, field, error):
        super().add_error(field, error)
        if getattr(self, "_files_asked_again", False):
            return
        self._files_asked_again = True
        for name, form_field in self.fields.items():
            if not isinstance(form_field, forms.FileField):
                continue
            key = self.add_prefix(name)
            chosen = self.files.getlist(key) if hasattr(self.files, "getlist") else [self.files.get(key)]
            names = [upload.name for upload in chosen if upload]
            if names:
                super().add_error(
                    name,
                    ngettext(
                        "Not saved: the chosen file %(names)s must be chosen again.",
                        "Not saved: the chosen files %(names)s must be chosen again.",
                        len(names),
                    )
                    % {"names": pgettext("between items of a list", ", ").join(f"“{n}”" for n in names)},
                )


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["code", "name", "sector", "founded_on", "staff_headcount"]
        widgets = {"founded_on": DateInput()}


class OrganizationCreateForm(OrganizationForm):
    kind = forms.ChoiceField(label=_("kind"), choices=OrganizationKind.choices)

    class Meta(OrganizationForm.Meta):
        fields = ["kind", *OrganizationForm.Meta.fields]


class OrganizationMoveForm(forms.Form):
    """The new parent is given by code: a select of thousands of organizations would be useless."""

    new_parent_code = forms.CharField(
        label=_("code of the new parent organization"),
        max_length=32,
        validators=[validate_code],
        help_text=_("The organization will move with all its sub-organizations and records."),
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = candidates

    def clean_new_parent_code(self):
        code = self.cleaned_data["new_parent_code"].strip()
        try:
            self.cleaned_data["new_parent"] = self.candidates.get(code=code)
        except Organization.DoesNotExist:
            raise forms.ValidationError(
                _("No organization with code %(code)s in your scope.") % {"code": code}
            ) from None
        return code


class OrganizationDissolveForm(forms.Form):
    on = forms.DateField(label=_("dissolved on"), widget=DateInput())
    reason = forms.CharField(label=_("reason for dissolution"), max_length=200, validators=[reject_markup])
    confirm = forms.BooleanField(
        label=_("I understand: the organization becomes read-only and leaves every list of active organizations."),
    )


class CadreForm(forms.ModelForm):
    class Meta:
        model = Cadre
        fields = ["name", "post", "employment", "also_unit_head", "term_start", "term_end"]
        widgets = {"term_start": DateInput(), "term_end": DateInput()}


class MemberForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = [
            "name",
            "gender",
            "category",
            "party_group",
            "joined_party_on",
            "joined_branch_on",
            "status",
            "left_on",
        ]
        widgets = {"joined_party_on": DateInput(), "joined_branch_on": DateInput(), "left_on": DateInput()}

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["party_group"].queryset = Organization.objects.filter(
            path__startswith=organization.path, depth=organization.depth + 1, kind=OrganizationKind.PARTY_GROUP
        )
        self.fields["joined_branch_on"].required = False


class ElectionForm(forms.Form):
    """换届: the committee elected on this date starts a new term of the rule's length."""

    started_on = forms.DateField(label=_("elected on"), widget=DateInput())


class AttachmentForm(ChosenFilesForm, forms.Form):
    title = forms.CharField(label=_("title"), max_length=120, validators=[reject_markup])
    file = forms.FileField(
        label=_("file"),
        help_text=_("JPG, PNG, PDF, DOCX or XLSX; checked by content, not by name."),
    )


class WorkbookUploadForm(ChosenFilesForm, forms.Form):
    file = forms.FileField(
        label=_("workbook"),
        help_text=_(
            "An .xlsx with the sheets 组织, 党员 and 干部, as in the template or an export. Nothing is written "
            "before you have seen the preview and confirmed it."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        ),
    )


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, delete it. The audit trail keeps a record of the deletion."))


def show_service_errors(form, error):
    """Put a service's ValidationError beside the fields it names (the rest above the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern); each is sniffed by the service."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".jpg,.jpeg,.png,.pdf,.docx,.xlsx"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class MeetingForm(ChosenFilesForm, forms.ModelForm):
    """The meeting itself; attendance comes as present_<id> / reason_<id> fields (see AttendanceFields)."""

    held_at = forms.DateTimeField(label=_("held at"), widget=DateTimeInput(), input_formats=[ISO_DATETIME_LOCAL])
    files = MultipleFileField(
        label=_("photos or scanned pages"),
        required=False,
        help_text=_("JPG, PNG, PDF, DOCX or XLSX; checked by content, not by name."),
    )

    class Meta:
        model = Meeting
        fields = ["meeting_type", "party_group", "held_at", "place", "host", "topic", "minutes"]
        widgets = {"minutes": forms.Textarea(attrs={"rows": 10})}

    def __init__(self, *args, organization, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["party_group"].queryset = Organization.objects.filter(
            path__startswith=organization.path, depth=organization.depth + 1, kind=OrganizationKind.PARTY_GROUP
        )
        self.fields["party_group"].required = False
        self.fields["party_group"].help_text = _("Only for party group meetings.")
        self.fields["minutes"].help_text = _("Plain text, up to %(limit)d characters.") % {
            "limit": settings.MINUTES_MAX_CHARS
        }
        self.members = list(members)
        for member in self.members:
            self.fields[f"present_{member.pk}"] = forms.BooleanField(label=member.name, required=False, initial=True)
            self.fields[f"reason_{member.pk}"] = forms.ChoiceField(
                label=_("reason"), required=False, choices=[("", "—"), *AbsenceReason.choices]
            )

    def attendance_rows(self):
        return [(member, self[f"present_{member.pk}"], self[f"reason_{member.pk}"]) for member in self.members]

    def meeting_fields(self):
        return [self[name] for name in [*self.Meta.fields, "files"]]

    def attendance(self):
        """member id -> (present, reason), from the cleaned data."""
        return {
            member.pk: (
                bool(self.cleaned_data.get(f"present_{member.pk}")),
                self.cleaned_data.get(f"reason_{member.pk}") or "",
            )
            for member in self.members
        }

    def posted_member_ids(self):
        """Ids the browser sent attendance for (a stale list names members the server no longer expects)."""
        ids = set()
        for key in self.data:
            if key.startswith(("present_", "reason_")):
                try:
                    ids.add(int(key.split("_", 1)[1]))
                except ValueError:
                    continue
        return ids


class MeetingWhenForm(forms.Form):
    """Just enough of a posted meeting to know whose attendance to show: the day and the group."""

    meeting_type = forms.ChoiceField(choices=MeetingType.choices)
    held_at = forms.DateTimeField(widget=DateTimeInput(), input_formats=[ISO_DATETIME_LOCAL])
    party_group = forms.IntegerField(required=False)


class PeriodField(forms.CharField):
    """A year, quarter or month as users type it (2026, 2026-Q4, 2026年第4季度, 2026-11, 2026年11月):
    cleans to a periods.Span, or says beside the field why the text is not a period."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("period"))
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "2026 / 2026-Q4 / 2026-11"}))
        super().__init__(**kwargs)

    def clean(self, value):
        text = super().clean(value)
        return periods.parse(text) if text else None


class MeetingFilterForm(forms.Form):
    meeting_type = forms.ChoiceField(
        label=_("meeting type"), required=False, choices=[("", _("all types")), *MeetingType.choices]
    )
    period = PeriodField(required=False)
    q = forms.CharField(label=_("search topic and minutes"), required=False, max_length=100)


class ComplianceFilterForm(forms.Form):
    """The reviewer's table: which period, sector and kind of organization. An empty period is this quarter."""

    period = PeriodField(required=False)
    sector = forms.ChoiceField(label=_("sector"), required=False, choices=[("", _("all sectors")), *Sector.choices])
    kind = forms.ChoiceField(
        label=_("kind"),
        required=False,
        choices=[(k.value, k.label) for k in OrganizationKind if k != OrganizationKind.PARTY_GROUP],
    )
