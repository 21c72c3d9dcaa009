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


class IntegritySignalRun(models.Model):
    """One recomputation of a year's integrity signals (the nightly job or `manage.py refresh_integrity_signals`,
    both through `services.integrity_signals_refresh`): so that the dashboard tells "none found" from "not computed
    yet" and a failed run from an empty one, and the jobs page lists them. `organization` is the subtree refreshed
    (None: the whole tree)."""

    class State(models.TextChoices):
        RUNNING = "running", _("running")
        OK = "ok", _("done")
        FAILED = "failed", _("failed")

    year = models.PositiveSmallIntegerField(_("year"))
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,  # a subtree's run says nothing once the subtree is gone
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("subtree"),
    )
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    organizations = models.PositiveIntegerField(_("organizations scanned"), default=0)
    found = models.PositiveIntegerField(_("signals found"), default=0)
    counts = models.JSONField(_("signals found per kind"), default=dict, blank=True)  # {kind: organizations}
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("integrity signal run")
        verbose_name_plural = _("integrity signal runs")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["year", "-started_at"], name="integrity_signal_run_year")]

    def __str__(self):
        return f"{self.year} · {self.started_at:%Y-%m-%d %H:%M} · {self.get_state_display()}"

    @property
    def seconds(self):
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    def kind_counts(self):
        """[(kind, organizations flagged)], every kind in order."""
        return [(kind, self.counts.get(kind.value, 0)) for kind in IntegritySignalKind]
