from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization, OrganizationKind, Sector
from branches.models.people import Member
from branches.validators import reject_markup


class MeetingType(models.TextChoices):
    GENERAL_MEETING = "general_meeting", _("Branch general meeting")
    COMMITTEE_MEETING = "committee_meeting", _("Branch committee meeting")
    GROUP_MEETING = "group_meeting", _("Party group meeting")
    PARTY_LECTURE = "party_lecture", _("Party lecture")
    THEME_DAY = "theme_day", _("Theme Party day")
    LIFE_MEETING = "life_meeting", _("Organizational life meeting")
    DEMOCRATIC_EVALUATION = "democratic_evaluation", _("Democratic evaluation of members")
    HEART_TO_HEART = "heart_to_heart", _("One-to-one talks")
    STUDY_SESSION = "study_session", _("Study session")


class Period(models.TextChoices):
    MONTH = "month", _("month")
    QUARTER = "quarter", _("quarter")
    YEAR = "year", _("year")

    @property
    def months(self):
        return {"month": 1, "quarter": 3, "year": 12}[self.value]

    def starts_on(self, day):
        """Whether `day` is the first day of a period of this kind (1 April for a quarter, 1 January for a year)."""
        return day.day == 1 and (day.month - 1) % self.months == 0


class MeetingRequirement(models.Model):
    """How often a kind of meeting must be held (rules as data, versioned by effective dates).

    A change never edits a version that has been in force: it closes it and opens a new one
    (services.requirement_change), so periods already past keep the rule they were judged by.
    """

    meeting_type = models.CharField(_("meeting type"), max_length=24, choices=MeetingType.choices)
    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    minimum = models.PositiveSmallIntegerField(_("minimum number"))
    organization_kind = models.CharField(
        _("for organizations of kind"),
        max_length=24,
        choices=OrganizationKind.choices,
        default=OrganizationKind.BRANCH,
    )
    sector = models.CharField(
        _("sector"),
        max_length=24,
        choices=Sector.choices,
        blank=True,
        help_text=_("Leave empty to apply to every sector."),
    )
    only_with_committee = models.BooleanField(
        _("only where a committee exists"),
        default=False,
        help_text=_("For committee meetings: branches with a secretary but no committee are exempt."),
    )
    per_party_group = models.BooleanField(
        _("counted per party group"),
        default=False,
        help_text=_("Each party group of the branch must hold the minimum itself."),
    )
    effective_from = models.DateField(_("in force from"))
    effective_to = models.DateField(_("in force until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("meeting requirement")
        verbose_name_plural = _("meeting requirements")
        ordering = ["meeting_type", "organization_kind", "sector", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True) | models.Q(effective_to__gte=models.F("effective_from")),
                name="requirement_ends_after_start",
            ),
            models.CheckConstraint(condition=models.Q(minimum__gte=1), name="requirement_minimum_positive"),
        ]

    def __str__(self):
        return f"{self.get_meeting_type_display()} {self.minimum}/{self.get_period_display()}"

    def clean(self):
        """A version starts on the first day of a period of its kind and ends on the last: one month,
        quarter or year is never judged by two versions."""
        if not self.period or self.period not in Period.values:
            return
        period = Period(self.period)
        errors = {}
        if self.effective_from and not period.starts_on(self.effective_from):
            errors["effective_from"] = _(
                "A rule counted per %(period)s takes effect on the first day of a %(period)s: "
                "one %(period)s cannot be judged by two versions of the rule."
            ) % {"period": period.label}
        if self.effective_to and not period.starts_on(self.effective_to + timedelta(days=1)):
            errors["effective_to"] = _("A rule counted per %(period)s ends on the last day of a %(period)s.") % {
                "period": period.label
            }
        if errors:
            raise ValidationError(errors)

    def in_force_on(self, day):
        return self.effective_from <= day and (self.effective_to is None or self.effective_to >= day)


def held_on_of(held_at):
    """The day a meeting was held: the date of `held_at` in the portal's time zone (Beijing), the one place
    this is worked out (months and quarters are counted on it)."""
    return timezone.localtime(held_at, timezone.get_default_timezone()).date()


class Meeting(models.Model):
    """One meeting held by a branch (or one of its party groups), with its minutes and attendance."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="meetings", verbose_name=_("branch")
    )
    party_group = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="group_meetings",
        verbose_name=_("party group"),
    )
    meeting_type = models.CharField(_("meeting type"), max_length=24, choices=MeetingType.choices)
    held_at = models.DateTimeField(_("held at"))
    # The Beijing-time date of held_at, kept so that periods group on a plain indexed date.
    held_on = models.DateField(_("meeting date"), editable=False)
    place = models.CharField(_("place"), max_length=120, validators=[reject_markup])
    host = models.CharField(_("host"), max_length=60, validators=[reject_markup])
    topic = models.CharField(_("topic"), max_length=200, validators=[reject_markup])
    minutes = models.TextField(_("minutes"), blank=True, validators=[reject_markup])
    expected_count = models.PositiveIntegerField(_("members expected"), default=0)
    present_count = models.PositiveIntegerField(_("members present"), default=0)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("logged by")
    )
    logged_at = models.DateTimeField(_("logged at"), default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("last edited by"),
    )
    updated_at = models.DateTimeField(_("last edited at"), auto_now=True)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["-held_at", "-pk"]
        indexes = [
            models.Index(fields=["organization", "held_on"]),
            models.Index(fields=["held_on", "meeting_type"]),
            # the API's newest-first pages: a reviewer of the whole tree walks it backwards (2.7 s → 0.1 s at
            # 100,000 organizations for a page of 100)
            models.Index(fields=["held_at"], name="meeting_held_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(present_count__lte=models.F("expected_count")), name="meeting_present_le_expected"
            ),
        ]

    def __str__(self):
        return f"{self.held_on} {self.get_meeting_type_display()}"

    def save(self, *args, **kwargs):
        """`held_on` follows `held_at` (its date in Beijing) whatever path saves the meeting: form, admin, API."""
        if self.held_at is not None:
            self.held_on = held_on_of(self.held_at)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "held_at" in update_fields:
                kwargs["update_fields"] = {*update_fields, "held_on"}
        super().save(*args, **kwargs)

    @property
    def attendance_rate(self):
        return self.present_count / self.expected_count if self.expected_count else None


class AbsenceReason(models.TextChoices):
    OFFICIAL = "official", _("On official duty")
    SICK = "sick", _("Sick leave")
    PERSONAL = "personal", _("Personal leave")
    OTHER = "other", _("Other")


class Attendance(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance", verbose_name=_("meeting"))
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="attendance", verbose_name=_("member"))
    present = models.BooleanField(_("present"), default=True)
    absence_reason = models.CharField(_("reason for absence"), max_length=12, choices=AbsenceReason.choices, blank=True)

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")
        ordering = ["meeting", "member__name"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "member"], name="attendance_once_per_member"),
            models.CheckConstraint(
                condition=models.Q(present=True, absence_reason="") | models.Q(present=False),
                name="attendance_reason_only_when_absent",
            ),
        ]

    def __str__(self):
        return f"{self.member} {'✓' if self.present else '✗'}"
