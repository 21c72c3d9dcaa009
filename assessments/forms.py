from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext_lazy as _

from assessments.models import BuildingArea, Finding, Inspection, ResponsibilityTemplate, TemplateItem
from branches.forms import ChosenFilesForm
from branches.models import Cadre, Meeting
from branches.validators import reject_markup
from branches.widgets import DateInput


class _LatestChoices(ModelChoiceIterator):
    """The choices offered: only the first `field.shown` rows of the (ordered) queryset."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset[: self.field.shown]:
            yield self.choice(obj)

    def __len__(self):
        return min(self.queryset.count(), self.field.shown) + (1 if self.field.empty_label is not None else 0)


class MeetingChoiceField(forms.ModelChoiceField):
    """A meeting of the organization: the latest few are offered, any of them is accepted.

    The queryset stays whole, so a choice is validated against every meeting of the organization
    (a sliced queryset cannot be filtered, and every choice would be refused)."""

    iterator = _LatestChoices
    shown = 50

    def label_from_instance(self, obj):
        return f"{obj.held_on:%Y-%m-%d} {obj.get_meeting_type_display()} · {obj.topic}"


class ItemCompleteForm(ChosenFilesForm, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("what was done"), required=False, widget=forms.Textarea(attrs={"rows": 3}), validators=[reject_markup]
    )
    file = forms.FileField(
        label=_("evidence file"),
        required=False,
        help_text=_("JPG, PNG, PDF, DOCX or XLSX; checked by content, not by name."),
    )
    meeting = MeetingChoiceField(label=_("or a logged meeting"), required=False, queryset=Meeting.objects.none())

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meeting"].queryset = Meeting.objects.filter(organization=organization).order_by("-held_at", "-pk")


class OwnItemForm(forms.Form):
    area = forms.ChoiceField(label=_("building area"), choices=BuildingArea.choices)
    text = forms.CharField(label=_("duty"), max_length=300, validators=[reject_markup])
    due_on = forms.DateField(label=_("due on"), widget=DateInput())


class IssueForm(forms.Form):
    template = forms.ModelChoiceField(
        label=_("responsibility list template"), queryset=ResponsibilityTemplate.objects.none()
    )
    confirm = forms.BooleanField(label=_("Issue it to every matching organization of this subtree."))

    def __init__(self, *args, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates


class InspectionForm(forms.ModelForm):
    class Meta:
        model = Inspection
        fields = ["held_on", "title", "summary"]
        widgets = {"held_on": DateInput(), "summary": forms.Textarea(attrs={"rows": 3})}


class FindingForm(forms.ModelForm):
    class Meta:
        model = Finding
        fields = ["severity", "description", "required_rectification", "deadline", "responsible_cadre"]
        widgets = {
            "deadline": DateInput(),
            "description": forms.Textarea(attrs={"rows": 3}),
            "required_rectification": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["responsible_cadre"].queryset = Cadre.objects.filter(
            organization=organization, term_end__isnull=True
        )


class FindingMoveForm(ChosenFilesForm, forms.Form):
    to_state = forms.CharField(widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 3}), validators=[reject_markup]
    )
    file = forms.FileField(label=_("evidence file"), required=False)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = ResponsibilityTemplate
        fields = ["year", "title", "organization_kind", "sector"]


TemplateItemFormSet = forms.inlineformset_factory(
    ResponsibilityTemplate,
    TemplateItem,
    fields=["area", "text", "due_on", "responsible_post", "position"],
    widgets={"due_on": DateInput(), "text": forms.TextInput()},
    extra=3,
    can_delete=True,
)
