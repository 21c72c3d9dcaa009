"""Assessment rounds (考核轮次): a published rubric applied to a subtree over a half-year or a year.

Opening a round freezes the rubric's definitions (the indicator tree and the grade bands, as JSON) on the round,
so later edits of the rubric never change what the round scores; an assessment reads the round's frozen copy
unless it holds its own (`Assessment.definitions`, for an assessment whose definitions were changed on purpose).
One copy per round instead of one per assessment keeps a round of 100,000 organizations a few kilobytes of
definitions rather than gigabytes.

The scoring engine (`assessments.scoring`, run by `services.round_score`) fills each assessment's scores,
total, grade, rank and roll-up; every computed score keeps its trace (the inputs and the rule that made it). A
round's first scoring is a job queued when it opens (`scored_at` stays empty until it has run).
Numbers are stored to six decimal places and shown to two.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from assessments.models.rubrics import Rubric
from branches.models import Attachment, Organization
from branches.validators import reject_markup

POINTS = {"max_digits": 14, "decimal_places": 6}
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class WrittenJSONField(models.JSONField):
    """JSON kept as written: PostgreSQL's `json` (checked, stored as its text) instead of `jsonb` (converted to a
    binary form on the way in). A score's trace is written once per indicator and run, half a million of them when
    a province's round is scored, and read whole, never searched inside: converting each to jsonb cost the server
    about as much as the rest of writing the row. Elsewhere an ordinary JSONField."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql" or value is None:
            return super().get_db_prep_value(value, connection, prepared)
        # The same text as the scoring engine writes (compact, unescaped), so that comparing stored traces as text
        # finds no difference where there is none.
        return _compact_json(value if prepared else self.get_prep_value(value))

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):
            return value  # the driver decodes `json` itself
        return super().from_db_value(value, expression, connection)


class RoundState(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class AssessmentRound(models.Model):
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="rounds", verbose_name=_("rubric"))
    root = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="assessment_rounds", verbose_name=_("subtree")
    )
    title = models.CharField(_("title"), max_length=160, blank=True)
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period to"))
    self_assessment_due = models.DateField(_("self-assessment due"))
    review_due = models.DateField(_("review due"))
    state = models.CharField(_("state"), max_length=8, choices=RoundState.choices, default=RoundState.OPEN)
    definitions = models.JSONField(_("definitions"), default=dict)  # frozen copy of the rubric at opening
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("opened by")
    )
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    scored_at = models.DateTimeField(_("scored at"), null=True, blank=True)

    class Meta:
        verbose_name = _("assessment round")
        verbose_name_plural = _("assessment rounds")
        ordering = ["-period_start", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rubric", "root", "period_start", "period_end"], name="assessment_round_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="assessment_round_period"
            ),
        ]

    def __str__(self):
        return self.title or f"{self.rubric} {self.period_start:%Y-%m}–{self.period_end:%Y-%m}"

    @property
    def first_scoring_pending(self):
        """Open and never scored: its first scoring, a job queued when it opened, has not run yet, so its computed
        indicators, totals, grades and ranks do not exist yet."""
        return self.scored_at is None and self.state == RoundState.OPEN


class AssessmentState(models.TextChoices):
    OPEN = "open", _("open")
    SELF_ASSESSED = "self_assessed", _("self-assessed")
    SUBMITTED = "submitted", _("submitted for acceptance")
    UNDER_REVIEW = "under_review", _("under review")
    RETURNED = "returned", _("returned")
    APPROVED = "approved", _("approved")
    PUBLISHED = "published", _("published")


# The workflow of an assessment, declared once: the allowed moves and the action each needs (branches.access).
# The organization's secretary self-assesses and applies for acceptance (申请验收); an assessor (考核员) takes it,
# scores it and returns or approves it; a reviewer publishes it, and a published assessment never changes again.
TRANSITIONS = {
    AssessmentState.OPEN: frozenset({AssessmentState.SELF_ASSESSED}),
    AssessmentState.SELF_ASSESSED: frozenset({AssessmentState.SELF_ASSESSED, AssessmentState.SUBMITTED}),
    AssessmentState.SUBMITTED: frozenset({AssessmentState.UNDER_REVIEW}),
    AssessmentState.UNDER_REVIEW: frozenset({AssessmentState.RETURNED, AssessmentState.APPROVED}),
    AssessmentState.RETURNED: frozenset({AssessmentState.SELF_ASSESSED, AssessmentState.SUBMITTED}),
    AssessmentState.APPROVED: frozenset({AssessmentState.PUBLISHED}),
    AssessmentState.PUBLISHED: frozenset(),
}
MOVED_BY = {
    AssessmentState.SELF_ASSESSED: "edit",
    AssessmentState.SUBMITTED: "edit",
    AssessmentState.UNDER_REVIEW: "assess",
    AssessmentState.RETURNED: "assess",
    AssessmentState.APPROVED: "assess",
    AssessmentState.PUBLISHED: "review",
}
# Where an assessment waits on its organization (self-assessment), on the assessors (review), on the reviewers.
AWAITING_ORGANIZATION = frozenset({AssessmentState.OPEN, AssessmentState.SELF_ASSESSED, AssessmentState.RETURNED})
AWAITING_REVIEW = frozenset({AssessmentState.SUBMITTED, AssessmentState.UNDER_REVIEW})
SELF_ASSESSING = AWAITING_ORGANIZATION  # the states in which the secretary may change the self-assessment


class Assessment(models.Model):
    round = models.ForeignKey(
        AssessmentRound,
        on_delete=models.CASCADE,
        related_name="assessments",
        verbose_name=_("round"),
        db_index=False,  # the unique key (round, organization) leads with it; a scoring run updates every row
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="assessments", verbose_name=_("organization")
    )
    state = models.CharField(_("state"), max_length=16, choices=AssessmentState.choices, default=AssessmentState.OPEN)
    definitions = models.JSONField(_("own definitions"), null=True, blank=True)
    total = models.DecimalField(_("total points"), **POINTS, null=True, blank=True)
    grade = models.CharField(_("grade"), max_length=40, blank=True)
    rank = models.PositiveIntegerField(_("rank"), null=True, blank=True)
    peer_size = models.PositiveIntegerField(_("peer group size"), null=True, blank=True)
    vetoed = models.BooleanField(_("vetoed"), default=False)
    bottom = models.BooleanField(_("bottom-ranked (末位)"), default=False)
    parts = models.JSONField(_("points of each area"), default=dict, blank=True)
    rollup = models.JSONField(_("roll-up of sub-organizations"), default=dict, blank=True)
    grade_trace = models.JSONField(_("how the grade was given"), default=dict, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    # Guards the workflow: a step or a score applies only to the version the user saw (optimistic locking).
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        ordering = ["round", "rank", "pk"]
        constraints = [models.UniqueConstraint(fields=["round", "organization"], name="assessment_unique")]

    def __str__(self):
        return f"{self.round_id} {self.organization_id}"

    @property
    def is_locked(self):
        return self.state == AssessmentState.PUBLISHED

    def may_become(self, state):
        return state in TRANSITIONS[AssessmentState(self.state)]


class Score(models.Model):
    """What people entered for one indicator of one assessment: what the organization claimed (自评) with its
    evidence, what the assessor gave, an adjustment with its reason, an approval. What the engine made of it (the
    computed points, their trace, the final points the total adds up) is in the assessment's `ScoreSheet`."""

    assessment = models.ForeignKey(
        Assessment,
        on_delete=models.CASCADE,
        related_name="scores",
        db_index=False,  # the unique key (assessment, code) leads with it
    )
    code = models.SlugField(_("indicator"), max_length=40, db_index=False)  # read with its assessment only
    kind = models.CharField(_("kind"), max_length=12)
    self_score = models.DecimalField(_("self-assessed points"), **POINTS, null=True, blank=True)
    assessor_score = models.DecimalField(_("assessor's points"), **POINTS, null=True, blank=True)
    adjusted = models.DecimalField(_("adjusted points"), **POINTS, null=True, blank=True)
    adjustment_reason = models.TextField(_("reason for the adjustment"), blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # indexed where set (Meta.indexes)
    )
    # The organization's evidence for its self-assessment: a note and/or a file.
    evidence_note = models.TextField(_("evidence"), blank=True, validators=[reject_markup])
    evidence_file = models.ForeignKey(
        Attachment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("evidence file"),
        db_index=False,  # indexed where set (Meta.indexes)
    )
    assessor_note = models.TextField(_("assessor's comment"), blank=True, validators=[reject_markup])

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        ordering = ["assessment", "pk"]
        constraints = [models.UniqueConstraint(fields=["assessment", "code"], name="score_unique")]
        # A round writes a million scores at once: the indexes are only those a read needs, and partial where
        # most scores hold nothing (no approval, no evidence file).
        indexes = [
            models.Index(
                fields=["approved_by"], condition=models.Q(approved_by__isnull=False), name="score_approved_by"
            ),
            models.Index(
                fields=["evidence_file"], condition=models.Q(evidence_file__isnull=False), name="score_evidence_file"
            ),
            # The scores an assessor marked (points, an adjustment or an approval): what a scoring run reads back.
            models.Index(
                fields=["assessment"],
                condition=models.Q(assessor_score__isnull=False)
                | models.Q(adjusted__isnull=False)
                | models.Q(approved_by__isnull=False),
                name="score_marked",
            ),
        ]

    def __str__(self):
        return f"{self.assessment_id} {self.code}"


@dataclass(frozen=True)
class LeafFigures:
    """What the engine made of one indicator (`scoring.figures_of`): its metric's value, its computed points, the
    points it counts, and its trace (inputs and rule), or None and {} where it has none."""

    value: Decimal | None = None
    computed: Decimal | None = None
    final: Decimal | None = None
    trace: dict = field(default_factory=dict)


class ScoreSheet(models.Model):
    """What the scoring engine made of every indicator of one assessment, in one row: the points each counts
    (`finals`: {code: points}) and, for an indicator with a metric, its value, computed points and the metric's
    inputs (`leaves`: {code: {"value", "computed", "inputs"}}), read through the day `through`; numbers as text,
    exact to six places. With the definitions the assessment froze they give each indicator's trace
    (`scoring.figures_of`). One row per assessment rather than one per indicator: a province's round writes 50,000
    rows and checks as many keys, not ten times that."""

    assessment = models.OneToOneField(
        Assessment, on_delete=models.CASCADE, primary_key=True, related_name="sheet", verbose_name=_("assessment")
    )
    through = models.DateField(_("read through"), null=True, blank=True)
    finals = models.JSONField(_("final points"), default=dict)
    leaves = WrittenJSONField(_("computed indicators"), default=dict)

    class Meta:
        verbose_name = _("score sheet")
        verbose_name_plural = _("score sheets")

    def __str__(self):
        return f"{self.assessment_id}"


class AssessmentStep(models.Model):
    """Every move of an assessment: who, when, from what to what, their comment; approving and publishing keep a
    frozen copy of the figures as they were approved (`snapshot`). An approval scores the round again in the
    background: until that run, its step is `figures_pending` and its snapshot empty."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="steps")
    from_state = models.CharField(_("from"), max_length=16, choices=AssessmentState.choices)
    to_state = models.CharField(_("to"), max_length=16, choices=AssessmentState.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)
    comment = models.TextField(_("comment"), blank=True, validators=[reject_markup])
    snapshot = models.JSONField(_("figures as approved"), default=dict, blank=True)
    figures_pending = models.BooleanField(_("figures being recalculated"), default=False)

    class Meta:
        verbose_name = _("assessment step")
        verbose_name_plural = _("assessment steps")
        ordering = ["assessment", "at", "pk"]
        indexes = [
            # The few steps waiting for a run, found without reading every step of a round.
            models.Index(
                fields=["assessment"], condition=models.Q(figures_pending=True), name="assessment_step_pending"
            ),
        ]

    def __str__(self):
        return f"{self.assessment_id} {self.from_state}→{self.to_state}"


class SurveyResult(models.Model):
    """群众民意测评: how many answered and what share was satisfied, per round and organization."""

    round = models.ForeignKey(
        AssessmentRound, on_delete=models.CASCADE, related_name="survey_results", verbose_name=_("round")
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="survey_results", verbose_name=_("organization")
    )
    respondents = models.PositiveIntegerField(_("respondents"))
    satisfied_share = models.DecimalField(
        _("satisfied share"),
        max_digits=5,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    entered_at = models.DateTimeField(_("entered at"), auto_now=True)
    # Where the figures came from, when not typed in: a closed rating's tickets and answers ("87 of 120 tickets
    # used; 好 62%, 较好 30% …"), shown as the survey indicator's "why".
    note = models.CharField(_("where it came from"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("survey result")
        verbose_name_plural = _("survey results")
        constraints = [models.UniqueConstraint(fields=["round", "organization"], name="survey_result_unique")]

    def __str__(self):
        return f"{self.round_id} {self.organization_id} {self.satisfied_share}"
