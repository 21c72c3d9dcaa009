import json

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext_lazy as _

from assessments import rubrics
from assessments.models import (
    AudienceKind,
    BuildingArea,
    Finding,
    Grade,
    GradeBand,
    Indicator,
    IndicatorKind,
    Inspection,
    RatingKind,
    ResponsibilityTemplate,
    Rubric,
    Scale,
    TemplateItem,
)
from branches.forms import ChosenFilesForm, MultipleFileField
from branches.models import Cadre, Meeting, OrganizationKind, Sector
from branches.validators import reject_markup
from branches.widgets import ISO_DATETIME_LOCAL, DateInput, DateTimeInput


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


# Rubrics (考核细则)


class RubricForm(forms.ModelForm):
    sectors = forms.MultipleChoiceField(
        label=_("sectors"),
        choices=Sector.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every sector."),
    )
    levels = forms.MultipleChoiceField(
        label=_("levels"),
        choices=OrganizationKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every level."),
    )

    class Meta:
        model = Rubric
        fields = ["code", "title", "year", "total_points", "bonus_may_exceed", "sectors", "levels", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # code and year name the rubric across its versions
            for name in ("code", "year"):
                self.fields[name].disabled = True


class RubricCopyForm(forms.Form):
    year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100)
    code = forms.SlugField(label=_("code"), max_length=40)
    title = forms.CharField(label=_("title"), max_length=120, validators=[reject_markup])


class JSONTextField(forms.CharField):
    """A small set of names and values typed as JSON, e.g. {"meeting_type": "theme_day"}."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "class": "font-monospace"}))
        super().__init__(*args, max_length=2000, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False) if value else ""
        return value

    def to_python(self, value):
        value = super().to_python(value).strip()
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except ValueError:
            raise forms.ValidationError(_('Write names and values as JSON, e.g. {"per": 1, "floor": 0}.')) from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError(_('Write names and values as JSON, e.g. {"per": 1, "floor": 0}.'))
        return parsed


class IndicatorForm(forms.ModelForm):
    metric = forms.ChoiceField(label=_("metric"), required=False)
    params = JSONTextField(label=_("metric parameters"), help_text=_('e.g. {"meeting_type": "committee_meeting"}'))
    rule_params = JSONTextField(
        label=_("rule parameters"),
        help_text=_(
            'proportional: {"full_at": 0.95} (optional); steps: {"steps": [{"from": 0.6, "points": 2}, '
            '{"from": 0.9, "points": 4}]}; per occurrence: {"per": 1, "floor": 0}'
        ),
    )

    class Meta:
        model = Indicator
        fields = [
            "code",
            "title",
            "kind",
            "max_points",
            "guidance",
            "aggregation",
            "weight",
            "formula",
            "metric",
            "params",
            "rule",
            "rule_params",
        ]
        widgets = {"guidance": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [("", "—")] + [(name, name) for name in rubrics.metric_names()]
        self.fields["aggregation"].required = False
        self.fields["aggregation"].help_text = _("Areas only.")
        self.fields["formula"].help_text = _(
            "Formula areas only: parts by code, e.g. (base - deductions) * 0.7 + review * 0.3"
        )
        self.fields["rule"].help_text = _("Indicators computed from records only.")

    def _post_clean(self):
        pass  # the service checks the indicator within its whole rubric


class IndicatorMoveForm(forms.Form):
    parent = forms.ChoiceField(label=_("move into"))

    def __init__(self, *args, indicator, **kwargs):
        super().__init__(*args, **kwargs)
        inside = _descendants(indicator)
        groups = indicator.rubric.indicators.filter(kind=IndicatorKind.GROUP).exclude(pk__in=inside)
        self.fields["parent"].choices = [("", _("the top level of the rubric"))] + [
            (str(group.pk), f"{group.code} {group.title}") for group in groups.order_by("parent_id", "position")
        ]


def _descendants(indicator):
    found, frontier = {indicator.pk}, [indicator.pk]
    while frontier:
        frontier = list(Indicator.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        found.update(frontier)
    return found


class GradeBandForm(forms.ModelForm):
    class Meta:
        model = GradeBand
        fields = ["name", "min_points", "max_share", "min_share", "children_share"]
        help_texts = {
            "min_points": _("A total from this many points up gets this grade (unless a higher grade applies)."),
            "max_share": _("At most this share of the peer group, e.g. 0.3 for 30%; empty: no cap."),
            "min_share": _("At least this share graded here or lower, e.g. 0.05 for 5%; empty: no minimum."),
        }

    def _post_clean(self):
        pass  # the service checks the band among the rubric's others


class RubricImportForm(ChosenFilesForm, forms.Form):
    file = forms.FileField(
        label=_("rubric file"), help_text=_("A rubric file in JSON or YAML (see the format in the README).")
    )


class RubricImportConfirmForm(forms.Form):
    payload = forms.CharField(widget=forms.HiddenInput, max_length=rubrics.MAX_FILE_BYTES)


# ------------------------------------------------------------------------------------------ assessment rounds


PERIODS = (("year", _("the whole year")), ("h1", _("first half-year")), ("h2", _("second half-year")))


def period_dates(year, period):
    """The first and last day of a year's half ("h1", "h2") or of the whole year."""
    from datetime import date

    start = date(year, 7, 1) if period == "h2" else date(year, 1, 1)
    end = date(year, 6, 30) if period == "h1" else date(year, 12, 31)
    return start, end


class RubricPreviewForm(forms.Form):
    """Preview a rubric on one organization: found by name or code, over a half-year or a year."""

    q = forms.CharField(label=_("organization"), required=False, max_length=60, help_text=_("Its name or code."))
    organization = forms.IntegerField(required=False, widget=forms.HiddenInput)
    year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100)
    period = forms.ChoiceField(label=_("period"), choices=PERIODS)

    def period_dates(self):
        return period_dates(self.cleaned_data["year"], self.cleaned_data["period"])


class RoundForm(forms.Form):
    """Open a round: a published rubric over the subtree, a half-year or a year, with its two deadlines."""

    PERIODS = PERIODS

    rubric = forms.ModelChoiceField(label=_("rubric"), queryset=Rubric.objects.none())
    year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100)
    period = forms.ChoiceField(label=_("period"), choices=PERIODS)
    title = forms.CharField(label=_("title"), required=False, max_length=160, validators=[reject_markup])
    self_assessment_due = forms.DateField(label=_("self-assessment due"), widget=DateInput())
    review_due = forms.DateField(label=_("review due"), widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rubric"].queryset = Rubric.objects.filter(state="published").order_by("-year", "code")

    def period_dates(self):
        return period_dates(self.cleaned_data["year"], self.cleaned_data["period"])


class SurveyForm(forms.Form):
    code = forms.CharField(label=_("organization code"), max_length=40)
    respondents = forms.IntegerField(label=_("respondents"), min_value=0)
    satisfied_share = forms.CharField(label=_("satisfied share"), max_length=12, help_text=_("e.g. 0.95 or 95%"))


class SurveyImportForm(ChosenFilesForm, forms.Form):
    file = forms.FileField(
        label=_("Excel workbook (.xlsx)"),
        help_text=_("First sheet, a header row, then one row per organization: code, respondents, satisfied share."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )


class SurveyImportConfirmForm(forms.Form):
    payload = forms.CharField(widget=forms.HiddenInput)

    def clean_payload(self):
        try:
            rows = json.loads(self.cleaned_data["payload"])
        except ValueError:
            raise forms.ValidationError(_("The confirmation could not be read: upload the file again.")) from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise forms.ValidationError(_("The confirmation could not be read: upload the file again."))
        return rows


class StepForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    comment = forms.CharField(
        label=_("comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


QUESTION_ROWS = 6  # question rows the set-up form offers (blank ones are ignored)


class RatingForm(forms.Form):
    """A rating's set-up: who is rated, the window, the questions (each graded or 1–5), the audiences with their
    weights (adding up to 100%) and voters, and the points of each grade. The service checks it whole."""

    code = forms.CharField(label=_("organization code"), max_length=40)
    kind = forms.ChoiceField(label=_("kind"), choices=RatingKind.choices)
    title = forms.CharField(label=_("title"), max_length=120, validators=[reject_markup])
    subject = forms.CharField(
        label=_("person rated"),
        max_length=60,
        required=False,
        validators=[reject_markup],
        help_text=_("The secretary who reports (述职评议); leave blank for a survey of the organization."),
    )
    opens_at = forms.DateTimeField(label=_("voting opens"), widget=DateTimeInput(), input_formats=[ISO_DATETIME_LOCAL])
    closes_at = forms.DateTimeField(
        label=_("voting closes"), widget=DateTimeInput(), input_formats=[ISO_DATETIME_LOCAL]
    )
    allow_comment = forms.BooleanField(label=_("voters may add a comment"), required=False, initial=True)

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["code"]
        for index in range(QUESTION_ROWS):
            self.fields[f"question_{index}"] = forms.CharField(
                label=_("Question %(number)d") % {"number": index + 1},
                max_length=200,
                required=False,
                validators=[reject_markup],
            )
            self.fields[f"scale_{index}"] = forms.ChoiceField(
                label=_("scale"), choices=Scale.choices, initial=Scale.GRADES, required=False
            )
        for kind, label in AudienceKind.choices:
            self.fields[f"weight_{kind}"] = forms.DecimalField(
                label=_("%(audience)s: weight (%%)") % {"audience": label},
                min_value=0,
                max_value=100,
                decimal_places=2,
                required=False,
            )
            self.fields[f"voters_{kind}"] = forms.IntegerField(
                label=_("%(audience)s: voters") % {"audience": label}, min_value=1, max_value=5000, required=False
            )
        for value, label in Grade.choices:
            self.fields[f"points_{value}"] = forms.IntegerField(
                label=_("points of “%(grade)s”") % {"grade": label}, min_value=0, max_value=100
            )

    @property
    def question_rows(self):
        return [(self[f"question_{index}"], self[f"scale_{index}"]) for index in range(QUESTION_ROWS)]

    @property
    def audience_rows(self):
        return [(label, self[f"weight_{kind}"], self[f"voters_{kind}"]) for kind, label in AudienceKind.choices]

    @property
    def grade_rows(self):
        return [self[f"points_{value}"] for value in Grade.values]

    def setup(self):
        from assessments.ratings import Setup

        data = self.cleaned_data
        return Setup(
            data={
                "kind": data["kind"],
                "title": data["title"],
                "subject": data["subject"],
                "opens_at": data["opens_at"],
                "closes_at": data["closes_at"],
                "allow_comment": data["allow_comment"],
                "grade_points": {value: data[f"points_{value}"] for value in Grade.values},
            },
            questions=[
                {"text": data[f"question_{index}"], "scale": data[f"scale_{index}"] or Scale.GRADES}
                for index in range(QUESTION_ROWS)
                if data.get(f"question_{index}")
            ],
            audiences=[
                {"kind": kind, "weight": data[f"weight_{kind}"], "voters": data[f"voters_{kind}"]}
                for kind in AudienceKind.values
                if data.get(f"weight_{kind}") is not None or data.get(f"voters_{kind}") is not None
            ],
        )

    @classmethod
    def initial_for(cls, rating=None):
        from assessments.models.ratings import DEFAULT_GRADE_POINTS

        if rating is None:
            return {
                "kind": RatingKind.REPORT,
                "allow_comment": True,
                "question_0": _("Overall evaluation of the secretary's party-building work"),
                **{f"points_{value}": points for value, points in DEFAULT_GRADE_POINTS.items()},
            }
        initial = {
            "kind": rating.kind,
            "title": rating.title,
            "subject": rating.subject,
            "opens_at": rating.opens_at,
            "closes_at": rating.closes_at,
            "allow_comment": rating.allow_comment,
            **{f"points_{value}": points for value, points in (rating.grade_points or DEFAULT_GRADE_POINTS).items()},
        }
        for index, question in enumerate(rating.questions.all()):
            initial[f"question_{index}"], initial[f"scale_{index}"] = question.text, question.scale
        for audience in rating.audiences.all():
            initial[f"weight_{audience.kind}"], initial[f"voters_{audience.kind}"] = audience.weight, audience.voters
        return initial


class RatingReportForm(ChosenFilesForm, forms.Form):
    report_text = forms.CharField(
        label=_("report"), widget=forms.Textarea(attrs={"rows": 12}), required=False, validators=[reject_markup]
    )
    files = MultipleFileField(label=_("files"), required=False)
