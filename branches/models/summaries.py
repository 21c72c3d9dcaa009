from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.meetings import MeetingType
from branches.models.organizations import Organization


class ComplianceSetting(models.Model):
    """The figures that judge how records are kept, as data an admin edits (one row)."""

    late_log_days = models.PositiveSmallIntegerField(
        _("days before a record is late"),
        default=7,
        help_text=_("A meeting logged more than this many days after it was held counts as logged late."),
    )

    class Meta:
        verbose_name = _("record-keeping setting")
        verbose_name_plural = _("record-keeping settings")

    def __str__(self):
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls):
        setting = cls.objects.order_by("pk").first()
        return setting or cls()


class MonthSummary(models.Model):
    """What one organization (and, for party-group meetings, one group) held of one meeting type in one month.

    Kept current by the services that change meetings, in the same transaction, and rebuilt from the
    records by `branches.summaries.rebuild` (nightly and `manage.py rebuild_summaries`). Tables, reminders and
    exports read these rows, never the raw meetings; subtree roll-ups join the organization's path.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="month_summaries",
        verbose_name=_("organization"),
        db_index=False,  # the unique key (organization, month, type, group) leads with it
    )
    month = models.DateField(_("month"))  # its first day
    meeting_type = models.CharField(_("meeting type"), max_length=24, choices=MeetingType.choices)
    # The party group whose meeting it was (its organization id), 0 for the branch's own meetings: a plain number,
    # never null, so that (organization, month, type, group) is one unique key a save can upsert.
    party_group = models.PositiveIntegerField(_("party group"), default=0)
    held = models.PositiveIntegerField(_("meetings held"), default=0)
    expected = models.PositiveIntegerField(_("members expected"), default=0)
    present = models.PositiveIntegerField(_("members present"), default=0)
    logged_late = models.PositiveIntegerField(_("logged late"), default=0)
    logged_last_two_weeks = models.PositiveIntegerField(_("logged in the month's last two weeks"), default=0)

    class Meta:
        verbose_name = _("month summary")
        verbose_name_plural = _("month summaries")
        indexes = [models.Index(fields=["month", "organization"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "month", "meeting_type", "party_group"], name="month_summary_unique"
            ),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.month:%Y-%m} {self.meeting_type}"

    FIGURES = ("held", "expected", "present", "logged_late", "logged_last_two_weeks")

    def key(self):
        return (self.organization_id, self.month, self.meeting_type, self.party_group)

    def figures(self):
        return tuple(getattr(self, name) for name in self.FIGURES)


class SummaryRun(models.Model):
    """One rebuild of the month summaries (the nightly job or `manage.py rebuild_summaries`): its scope, how many
    rows it found out of step with the records (drift; expected 0) and how long it took."""

    class Source(models.TextChoices):
        NIGHTLY = "nightly", _("nightly job")
        COMMAND = "command", _("command")

    source = models.CharField(_("started by"), max_length=12, choices=Source.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("subtree")
    )
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    drift = models.PositiveIntegerField(_("rows out of step"), null=True, blank=True)

    class Meta:
        verbose_name = _("summary rebuild")
        verbose_name_plural = _("summary rebuilds")
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} · {self.drift}"

    @property
    def seconds(self):
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None
