from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.meetings import MeetingType, Period
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


class ComplianceResult(models.Model):
    """How one organization stands on one meeting type over one period, judged with the facts of each month.

    Written by `branches.results` from the month summaries and the facts in force (lifetime, committee, groups,
    requirement versions), in the transaction of the service that changed them, and rebuilt with the summaries.
    The reviewer's table ranks and pages over these rows in SQL, so it reads a few rows per organization
    whatever the number of meetings.

    `rule_period` is the period of the rule the type is judged by that year (the version in force on 1 January,
    else on 31 December); `period` is the period this row covers: the rule's own span (`period == rule_period`)
    or, for a coarser view (a monthly rule over a quarter or a year), that view. `spans` lists the rule's spans
    inside it that owe something, in order: [first day (ISO), meetings counted, meetings required, rule id].

    Nothing here depends on the day of reading: a span is over once its last day has passed, and a view counts
    only the spans begun by then, so the state is derived at read time from `first_judged`, `unmet_start` and
    `unmet_end` (the first span not met), in SQL for ranking and in Python for the cells; a cell's figure comes from
    `counted` and `required` (every span) or, while a view has spans not yet begun, from the spans begun.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="compliance_results",
        verbose_name=_("organization"),
        db_index=False,  # the unique key leads with it
    )
    meeting_type = models.CharField(_("meeting type"), max_length=24, choices=MeetingType.choices)
    rule_period = models.CharField(_("period of the rule"), max_length=8, choices=Period.choices)
    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    start = models.DateField(_("first day"))
    first_judged = models.DateField(_("first span judged"))
    unmet_start = models.DateField(_("first span not met, from"), null=True, blank=True)
    unmet_end = models.DateField(_("first span not met, to"), null=True, blank=True)
    spans = models.JSONField(_("spans"), default=list)
    # For a rule per party group, per span: [[group id, meetings required of it], ...]. A meeting then changes a
    # span's count by the group's capped share, which SQL can recount from the month summaries alone.
    group_needs = models.JSONField(_("required of each party group"), null=True, blank=True)
    # The figures of all its spans as plain columns: a view that counts every span (any view once its last span
    # has begun) shows the cell from these without decoding `spans`.
    counted = models.PositiveIntegerField(_("meetings counted"), default=0)  # each span's up to its minimum
    required = models.PositiveIntegerField(_("meetings required"), default=0)
    last_start = models.DateField(_("last span from"))

    class Meta:
        verbose_name = _("compliance result")
        verbose_name_plural = _("compliance results")
        indexes = [
            # A view's rows in order of type then organization, with what ranking reads: an index-only scan.
            models.Index(
                fields=["start", "period", "meeting_type", "rule_period", "organization"],
                include=["first_judged", "unmet_start", "unmet_end"],
                name="compliance_result_view",
            ),
            # What ranking counts: the rows of a view with a span not met, by organization (most rows are met).
            models.Index(
                fields=["start", "period", "rule_period", "organization"],
                include=["first_judged", "unmet_start", "unmet_end"],
                condition=models.Q(unmet_end__isnull=False),
                name="compliance_result_unmet",
            ),
        ]
        constraints = [
            # One organization's rows of a view (period, start) side by side: a page's cells and a small subtree's
            # columns are read by organization without walking its other views' rows.
            models.UniqueConstraint(
                fields=["organization", "period", "start", "rule_period", "meeting_type"],
                include=["first_judged"],
                name="compliance_result_unique",
            ),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.meeting_type} {self.period} {self.start}"

    def save(self, *args, **kwargs):
        # The engine writes the figure columns with the spans; a row saved one by one with its spans alone (a
        # fixture, a repair by hand) gets them from its spans, so a page never shows figures its spans contradict.
        if self.last_start is None and self.spans:
            self.counted = sum(min(int(held), int(needed)) for _start, held, needed, *_rule in self.spans)
            self.required = sum(int(needed) for _start, _held, needed, *_rule in self.spans)
            self.last_start = date.fromisoformat(str(self.spans[-1][0]))
        super().save(*args, **kwargs)

    KEY = ("organization_id", "meeting_type", "rule_period", "period", "start")
    VALUES = ("first_judged", "unmet_start", "unmet_end", "spans", "group_needs", "counted", "required", "last_start")

    def key(self):
        return tuple(getattr(self, name) for name in self.KEY)

    def values(self):
        return tuple(getattr(self, name) for name in self.VALUES)


class ResultYear(models.Model):
    """A year whose compliance results are kept (the nightly job adds the running year; `rebuild_summaries
    --year` adds any other). Tables over other years judge from the month summaries directly."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    built_at = models.DateTimeField(_("built at"), auto_now=True)

    class Meta:
        verbose_name = _("year of compliance results")
        verbose_name_plural = _("years of compliance results")
        ordering = ["-year"]

    def __str__(self):
        return str(self.year)


class TermState(models.TextChoices):
    NONE = "none", _("no committee term")
    RUNNING = "running", _("term running")
    OVERDUE = "overdue", _("election overdue")


class MonthFact(models.Model):
    """What held for one organization through one month, as the judgment of that month saw it: whether it existed
    every day, whether its committee served every day, and its committee's term on the month's last day.

    Kept with the compliance results (`branches.results`), in the same transactions and rebuilds; scoring and
    dashboards read these instead of working lifetimes and terms out again.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="month_facts",
        verbose_name=_("organization"),
        db_index=False,  # the unique key leads with it
    )
    month = models.DateField(_("month"))  # its first day
    existed = models.BooleanField(_("existed the whole month"))
    committee_serving = models.BooleanField(_("committee served the whole month"))
    term_state = models.CharField(_("committee term"), max_length=8, choices=TermState.choices)

    class Meta:
        verbose_name = _("month fact")
        verbose_name_plural = _("month facts")
        indexes = [models.Index(fields=["month", "organization"], name="month_fact_month")]
        constraints = [models.UniqueConstraint(fields=["organization", "month"], name="month_fact_unique")]

    def __str__(self):
        return f"{self.organization_id} {self.month:%Y-%m}"

    KEY = ("organization_id", "month")
    VALUES = ("existed", "committee_serving", "term_state")

    def key(self):
        return tuple(getattr(self, name) for name in self.KEY)

    def values(self):
        return tuple(getattr(self, name) for name in self.VALUES)


class ComplianceStanding(models.Model):
    """How many of one organization's meeting rules stand not met and in progress in one view (a year, quarter or
    month, from `start`), as ranking counts them on the days of one state of the view (from `day`): see
    `branches.standings`. Derived from the `ComplianceResult` rows and written with them, in the same transactions
    and rebuilds: ranking a province reads one narrow row per organization instead of one per rule.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="compliance_standings",
        verbose_name=_("organization"),
        db_index=False,  # the index below serves the organization's own rows
    )
    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    start = models.DateField(_("first day"))
    day = models.DateField(_("from"))
    not_met = models.PositiveSmallIntegerField(_("rules not met"))
    in_progress = models.PositiveSmallIntegerField(_("rules in progress"))
    # The meeting types judged in this state, one bit each (`branches.standings.TYPE_BITS`).
    judged = models.PositiveIntegerField(_("meeting types judged"), default=0)

    class Meta:
        verbose_name = _("compliance standing")
        verbose_name_plural = _("compliance standings")
        indexes = [models.Index(fields=["organization", "start"], name="compliance_standing_org")]
        constraints = [
            # Ranking reads one state of one view for every organization: an index-only scan of this key.
            models.UniqueConstraint(
                fields=["start", "period", "day", "organization"],
                include=["not_met", "in_progress", "judged"],
                name="compliance_standing_unique",
            ),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.period} {self.start} {self.day}"

    KEY = ("organization_id", "period", "start", "day")
    VALUES = ("not_met", "in_progress", "judged")

    def key(self):
        return tuple(getattr(self, name) for name in self.KEY)

    def values(self):
        return tuple(getattr(self, name) for name in self.VALUES)
