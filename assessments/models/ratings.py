"""Ratings by ticket (述职评议 and 群众民意测评) inside an assessment round.

A reviewer sets up a rating of one organization of a round: who is rated (its secretary's report, 述职评议, or the
organization itself, 民意测评), the questions (grades 好 / 较好 / 一般 / 差, or a 1–5 scale), the audiences with their
weights (adding up to 100%) and how many voters each has, and the window in which votes count.

Voters are not portal users: each gets a ticket, a short random code (≥ 64 bits, `assessments.ratings`) printed with
its QR code. The portal keeps only the code's keyed hash (HMAC-SHA256 with a key derived from SECRET_KEY), so a copy
of the table cannot be turned back into codes offline; the plain codes exist only on the sheet made when they are
issued. A vote spends its ticket (a conditional UPDATE) and stores a ballot in the same transaction, and the two keep
no link: a ballot holds only its rating, its audience and what was answered, under a random UUID (no sequence, no
time). Closing the rating rewrites every ballot and ticket of the rating in one transaction, in a shuffled order, so
that not even the database's own bookkeeping (row order, transaction ids) tells which ballot came with which ticket.

Results exist only once the rating is closed (`results`, frozen then); publishing writes them into the round's
survey result of the organization (`SurveyResult`, the input of the survey indicator), with the "why".
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from assessments.models.rounds import AssessmentRound
from branches.models import Attachment, Organization
from branches.validators import reject_markup


class RatingKind(models.TextChoices):
    REPORT = "report", _("Report and review (述职评议)")
    SURVEY = "survey", _("Opinion survey (民意测评)")


class RatingState(models.TextChoices):
    OPEN = "open", _("collecting votes")
    CLOSED = "closed", _("closed")
    PUBLISHED = "published", _("published")


class AudienceKind(models.TextChoices):
    SUPERIOR = "superior", _("superior committee")
    PEERS = "peers", _("peer organizations")
    MEMBERS = "members", _("Party members")
    PUBLIC = "public", _("the public")


class Scale(models.TextChoices):
    GRADES = "grades", _("good / fairly good / average / poor")
    FIVE = "five", _("1 to 5")


class Grade(models.TextChoices):
    """The four grades of a grades question, best first."""

    GOOD = "good", _("grade: good")
    FAIRLY_GOOD = "fairly_good", _("grade: fairly good")
    AVERAGE = "average", _("grade: average")
    POOR = "poor", _("grade: poor")


# Points of each answer, out of 100 (a rating keeps its own copy in `grade_points`, editable when set up).
DEFAULT_GRADE_POINTS = {"good": 100, "fairly_good": 80, "average": 60, "poor": 0}
FIVE_POINTS = {str(value): value * 20 for value in range(1, 6)}  # 1 → 20 … 5 → 100


class Rating(models.Model):
    round = models.ForeignKey(
        AssessmentRound, on_delete=models.CASCADE, related_name="ratings", verbose_name=_("round")
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="ratings", verbose_name=_("organization rated")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=RatingKind.choices, default=RatingKind.REPORT)
    title = models.CharField(_("title"), max_length=120, validators=[reject_markup])
    subject = models.CharField(
        _("person rated"), max_length=60, blank=True, validators=[reject_markup]
    )  # the secretary who reports (述职评议); blank for a survey of the organization
    opens_at = models.DateTimeField(_("voting opens"))
    closes_at = models.DateTimeField(_("voting closes"))
    allow_comment = models.BooleanField(_("voters may add a comment"), default=True)
    grade_points = models.JSONField(_("points of each grade"), default=dict)
    state = models.CharField(_("state"), max_length=10, choices=RatingState.choices, default=RatingState.OPEN)
    # The organization's 述职报告: its text and files (the three lists are shown beside it, from the records).
    report_text = models.TextField(_("report"), blank=True, validators=[reject_markup])
    report_files = models.ManyToManyField(Attachment, blank=True, related_name="+", verbose_name=_("report files"))
    results = models.JSONField(_("results"), default=dict, blank=True)  # frozen when closed
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("set up by")
    )
    created_at = models.DateTimeField(_("set up at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        ordering = ["round", "organization__path", "pk"]
        constraints = [
            # One rating an organization and round: its result is the organization's survey result of the round.
            models.UniqueConstraint(fields=["round", "organization"], name="rating_unique"),
            models.CheckConstraint(condition=models.Q(closes_at__gt=models.F("opens_at")), name="rating_window"),
        ]

    def __str__(self):
        return self.title

    @property
    def is_open(self):
        return self.state == RatingState.OPEN

    def points_of(self, scale, value):
        """The points (0–100) of one answer, or None for an answer the scale does not know."""
        if scale == Scale.FIVE:
            return FIVE_POINTS.get(str(value))
        points = (self.grade_points or DEFAULT_GRADE_POINTS).get(str(value))
        return None if points is None else points


class RatingQuestion(models.Model):
    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="questions", verbose_name=_("rating"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("question"), max_length=200, validators=[reject_markup])
    scale = models.CharField(_("scale"), max_length=8, choices=Scale.choices, default=Scale.GRADES)

    class Meta:
        verbose_name = _("rating question")
        verbose_name_plural = _("rating questions")
        ordering = ["rating", "position", "pk"]

    def __str__(self):
        return self.text

    @property
    def choices(self):
        if self.scale == Scale.FIVE:
            return [(str(value), str(value)) for value in range(5, 0, -1)]
        return list(Grade.choices)


class RatingAudience(models.Model):
    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="audiences", verbose_name=_("rating"))
    kind = models.CharField(_("audience"), max_length=10, choices=AudienceKind.choices)
    weight = models.DecimalField(
        _("weight (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    voters = models.PositiveIntegerField(_("voters"), validators=[MinValueValidator(1), MaxValueValidator(5000)])

    class Meta:
        verbose_name = _("rating audience")
        verbose_name_plural = _("rating audiences")
        ordering = ["rating", "pk"]
        constraints = [models.UniqueConstraint(fields=["rating", "kind"], name="rating_audience_unique")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.weight}%"


class RatingTicket(models.Model):
    """One voter's right to vote once: the keyed hash of its code, never the code. Spending it is a flag with no time;
    reissuing the audience's tickets voids the unspent ones of the earlier batch. A ticket sent to a portal user's
    inbox (`by_inbox`) is not part of a printed batch and is never voided by reprinting."""

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="tickets")
    audience = models.ForeignKey(RatingAudience, on_delete=models.CASCADE, related_name="tickets")
    code_hash = models.CharField(max_length=64, unique=True)
    batch = models.PositiveIntegerField(default=1)
    spent = models.BooleanField(default=False)
    voided = models.BooleanField(default=False)
    by_inbox = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("rating ticket")
        verbose_name_plural = _("rating tickets")
        indexes = [models.Index(fields=["audience", "spent"], name="rating_ticket_turnout")]

    def __str__(self):
        return f"{self.rating_id}/{self.audience_id}"


class RatingBallot(models.Model):
    """One vote: what was answered, for which rating and audience. Nothing else: no ticket, no time, no address, and
    a random id (a sequence would give the order of the votes)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="ballots")
    audience = models.ForeignKey(RatingAudience, on_delete=models.CASCADE, related_name="ballots")
    answers = models.JSONField(default=dict)  # {question id: "good" … or "1"…"5"}
    comment = models.TextField(blank=True)

    class Meta:
        verbose_name = _("rating ballot")
        verbose_name_plural = _("rating ballots")

    def __str__(self):
        return str(self.pk)
