from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization


class IntegritySignalKind(models.TextChoices):
    LATE_LOGGING = "late_logging", _("records logged long after the meeting")
    CRAMMING = "cramming", _("records logged at the year's end")
    SIMILAR_MINUTES = "similar_minutes", _("nearly identical minutes")
    SAME_ATTENDANCE = "same_attendance", _("identical attendance lists")


class IntegritySignal(models.Model):
    """A prompt to look at one organization's records of one year (台账质量提示), never a score or a penalty.

    Recomputed by a nightly job (`services.integrity_signals_refresh`), which replaces the year's rows: a signal
    that no longer holds disappears. `meetings` are the records behind it (ids, the first `MEETINGS_KEPT`);
    for similar minutes `others` pairs each with the meeting it resembles: [meeting id, other meeting id, other
    organization id, similarity].
    """

    MEETINGS_KEPT = 50

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="integrity_signals",
        verbose_name=_("organization"),
        db_index=False,  # the unique key leads with it
    )
    year = models.PositiveSmallIntegerField(_("year"))
    kind = models.CharField(_("kind of signal"), max_length=16, choices=IntegritySignalKind.choices)
    figure = models.DecimalField(
        _("figure"),
        max_digits=5,
        decimal_places=4,
        help_text=_("The share of the year's records concerned, or the similarity of the minutes (0 to 1)."),
    )
    meeting_count = models.PositiveIntegerField(_("records concerned"))
    meetings = models.JSONField(_("records behind it"), default=list)
    others = models.JSONField(_("similar records"), default=list, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("integrity signal")
        verbose_name_plural = _("integrity signals")
        ordering = ["year", "kind", "organization"]
        indexes = [models.Index(fields=["year", "kind"], name="integrity_signal_year")]
        constraints = [
            models.UniqueConstraint(fields=["organization", "year", "kind"], name="integrity_signal_unique"),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.year} {self.kind}"
