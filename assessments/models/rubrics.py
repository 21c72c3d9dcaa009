"""Rubrics (考核细则) as data: a versioned tree of indicators with points, grade bands and quotas.

A rubric is identified across versions by its `code` (e.g. "five-goods"); each version is a row with its year,
sectors and levels. A draft is edited; publishing freezes it (never changed again: editing a published rubric
makes a new draft version); an old version is archived. Assessment rounds score against a published version and
copy its definitions into each assessment when it opens.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.validators import reject_markup


class RubricState(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    ARCHIVED = "archived", _("archived")


class Rubric(models.Model):
    code = models.SlugField(
        _("code"), max_length=40, help_text=_("The same code for every version of one rubric, e.g. five-goods.")
    )
    title = models.CharField(_("title"), max_length=120, validators=[reject_markup])
    year = models.PositiveSmallIntegerField(_("year"))
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    state = models.CharField(_("state"), max_length=12, choices=RubricState.choices, default=RubricState.DRAFT)
    # Sector and OrganizationKind values; empty: every sector / every level.
    sectors = models.JSONField(_("sectors"), default=list, blank=True)
    levels = models.JSONField(_("levels"), default=list, blank=True)
    total_points = models.DecimalField(_("total points"), max_digits=7, decimal_places=2, default=100)
    bonus_may_exceed = models.BooleanField(
        _("bonuses may exceed the total"), default=False, help_text=_("A scheme that adds bonuses to a full base.")
    )
    description = models.TextField(_("description"), blank=True, validators=[reject_markup])
    based_on = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("based on")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )

    class Meta:
        verbose_name = _("rubric")
        verbose_name_plural = _("rubrics")
        ordering = ["-year", "code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "year", "version"], name="rubric_version_unique"),
        ]

    def __str__(self):
        return f"{self.year} {self.title} v{self.version}"

    @property
    def is_frozen(self):
        return self.state != RubricState.DRAFT


class IndicatorKind(models.TextChoices):
    GROUP = "group", _("area (group of indicators)")
    COMPUTED = "computed", _("computed from records")
    MANUAL = "manual", _("scored by an assessor")
    SURVEY = "survey", _("from a survey")
    BONUS = "bonus", _("bonus")
    DEDUCTION = "deduction", _("deduction")
    VETO = "veto", _("veto (一票否决)")


class Aggregation(models.TextChoices):
    CAPPED_SUM = "capped_sum", _("sum, capped at the maximum")
    WEIGHTED_AVERAGE = "weighted_average", _("weighted average")
    FORMULA = "formula", _("formula of parts")


class ScoringRule(models.TextChoices):
    PROPORTIONAL = "proportional", _("proportional")
    STEPS = "steps", _("threshold steps")
    PER_OCCURRENCE = "per_occurrence", _("per occurrence, with a floor")


class Indicator(models.Model):
    """A node of a rubric's tree: an area (group) aggregating its children, or a leaf scored one way.

    Leaves: `computed` names a metric (`assessments.metrics`) with `params` and maps its value to points by `rule`
    with `rule_params`; `manual` and `survey` are scored up to `max_points`; a `bonus` adds up to `max_points` (its
    cap); a `deduction` takes off up to `max_points`; a `veto` forces the lowest grade when it applies. Bonuses and
    deductions need an approver.
    """

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="indicators", verbose_name=_("rubric"))
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children", verbose_name=_("area")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    code = models.SlugField(_("code"), max_length=40, help_text=_("Unique in the rubric; formulas name parts by it."))
    title = models.CharField(_("title"), max_length=200, validators=[reject_markup])
    guidance = models.TextField(_("how it is scored"), blank=True, validators=[reject_markup])
    kind = models.CharField(_("kind"), max_length=12, choices=IndicatorKind.choices)
    max_points = models.DecimalField(
        _("maximum points"), max_digits=7, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    # Groups
    aggregation = models.CharField(
        _("aggregation"), max_length=20, choices=Aggregation.choices, default=Aggregation.CAPPED_SUM, blank=True
    )
    weight = models.DecimalField(
        _("weight"),
        max_digits=6,
        decimal_places=4,
        default=1,
        validators=[MinValueValidator(0)],
        help_text=_("Its weight in a weighted average of its area."),
    )
    formula = models.CharField(
        _("formula"),
        max_length=200,
        blank=True,
        help_text=_("For a formula area: its parts by code, e.g. (base - deductions) * 0.7 + review * 0.3"),
    )
    # Computed leaves
    metric = models.CharField(_("metric"), max_length=60, blank=True)
    params = models.JSONField(_("metric parameters"), default=dict, blank=True)
    rule = models.CharField(_("scoring rule"), max_length=20, choices=ScoringRule.choices, blank=True)
    rule_params = models.JSONField(_("rule parameters"), default=dict, blank=True)

    class Meta:
        verbose_name = _("indicator")
        verbose_name_plural = _("indicators")
        ordering = ["rubric", "parent_id", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["rubric", "code"], name="indicator_code_unique")]

    def __str__(self):
        return f"{self.code} {self.title}"

    @property
    def needs_approval(self):
        return self.kind in (IndicatorKind.BONUS, IndicatorKind.DEDUCTION)


class GradeBand(models.Model):
    """A grade (五星, 好, 相对后进 …) from `min_points` up, with optional quotas over the peer group.

    `max_share`: at most this share of the peer group gets this grade (those below the cut by rank drop to the next
    band); `min_share`: at least this share gets this grade or a lower one (the lowest-ranked are moved down into it);
    `children_share`: an organization with sub-organizations assessed over the same period qualifies for this grade
    (or higher) only when at least this share of them reach `min_points` (the 五个好 rule: ≥ 90%).
    """

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="bands", verbose_name=_("rubric"))
    name = models.CharField(_("grade"), max_length=40, validators=[reject_markup])
    min_points = models.DecimalField(_("from points"), max_digits=7, decimal_places=2)
    max_share = models.DecimalField(
        _("at most (share of peers)"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    min_share = models.DecimalField(
        _("at least (share of peers)"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )

    children_share = models.DecimalField(
        _("sub-organizations meeting it (share)"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_(
            "An organization with sub-organizations gets this grade or a higher one only when at least this share of "
            "them reach this grade's points, e.g. 0.9."
        ),
    )

    class Meta:
        verbose_name = _("grade band")
        verbose_name_plural = _("grade bands")
        ordering = ["rubric", "-min_points"]
        constraints = [models.UniqueConstraint(fields=["rubric", "name"], name="grade_band_name_unique")]

    def __str__(self):
        return f"{self.name} ≥ {self.min_points}"
