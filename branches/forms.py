from django import forms
from django.utils.translation import gettext_lazy as _

from branches.models import Cadre, Member, Organization, OrganizationKind
from branches.validators import reject_markup, validate_code


class DateInput(forms.DateInput):
    input_type = "date"


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


class AttachmentForm(forms.Form):
    title = forms.CharField(label=_("title"), max_length=120, validators=[reject_markup])
    file = forms.FileField(
        label=_("file"),
        help_text=_("JPG, PNG, PDF, DOCX or XLSX; checked by content, not by name."),
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
