"""Reminders and notifications: the rules (lead times as data), each notification sent, each run of the job."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from branches.models import Organization
from branches.validators import reject_markup

MAX_LEAD_DAYS = 366
MAX_CATCH_UP_DAYS = 60


class Topic(models.TextChoices):
    MEETING = "meeting", _("Required meetings")
    DUTY = "duty", _("Responsibility items")
    RECTIFICATION = "rectification", _("Rectifications")
    TERM = "term", _("Committee terms (election due)")
    ASSESSMENT = "assessment", _("Assessments (self-assessment and review due)")


class Timing(models.TextChoices):
    BEFORE = "before", _("Before it falls due")
    OVERDUE = "overdue", _("Once it is overdue")


class ReminderRule(models.Model):
    """When reminders go out, as rows an admin edits without a deploy.

    "before, 7 days": a reminder 7 days before the due date (or later, if the job missed that day).
    "overdue, 7 days": one notice after the due date passes, caught up for at most 7 days.
    """

    topic = models.CharField(_("about"), max_length=16, choices=Topic.choices)
    timing = models.CharField(_("when"), max_length=8, choices=Timing.choices, default=Timing.BEFORE)
    days = models.PositiveSmallIntegerField(
        _("days"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LEAD_DAYS)],
        help_text=_(
            "Before: how many days ahead of the due date. Overdue: for how many days after the due date "
            "a missed notice is still sent."
        ),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("reminder rule")
        verbose_name_plural = _("reminder rules")
        ordering = ["topic", "timing", "-days"]
        constraints = [
            models.UniqueConstraint(fields=["topic", "timing", "days"], name="reminder_rule_unique"),
            models.UniqueConstraint(
                fields=["topic"], condition=models.Q(timing="overdue"), name="reminder_rule_one_overdue_per_topic"
            ),
        ]

    def __str__(self):
        return f"{self.get_topic_display()} · {self.get_timing_display()} · {self.days}"

    def clean(self):
        if self.topic == Topic.ASSESSMENT and self.timing == Timing.OVERDUE:
            raise ValidationError({"timing": _("Assessments have reminders before their deadlines only.")})
        if self.topic == Topic.TERM and self.timing == Timing.OVERDUE:
            raise ValidationError(
                {
                    "timing": _(
                        "Committee terms have reminders before the election only; an overdue election is a finding."
                    )
                }
            )
        if self.timing == Timing.OVERDUE and self.days and self.days > MAX_CATCH_UP_DAYS:
            raise ValidationError(
                {
                    "days": _("An overdue notice can be caught up for at most %(days)d days.")
                    % {"days": MAX_CATCH_UP_DAYS}
                }
            )


class NotificationKind(models.TextChoices):
    MEETING_DUE = "meeting_due", _("Meeting due soon")
    MEETING_OVERDUE = "meeting_overdue", _("Meeting not held in time")
    DUTY_DUE = "duty_due", _("Duty due soon")
    DUTY_OVERDUE = "duty_overdue", _("Duty overdue")
    RECTIFICATION_DUE = "rectification_due", _("Rectification due soon")
    RECTIFICATION_OVERDUE = "rectification_overdue", _("Rectification overdue")
    TERM_ENDING = "term_ending", _("Committee term ending")
    OVERDUE_DIGEST = "overdue_digest", _("Daily overdue digest")
    SELF_ASSESSMENT_DUE = "self_assessment_due", _("Self-assessment due soon")
    REVIEW_DUE = "review_due", _("Assessment review due soon")
    RATING_TICKET = "rating_ticket", _("Ballot ticket of a rating")


class EmailState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not emailed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ReminderRunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    INTERRUPTED = "interrupted", _("Interrupted")


class ReminderRun(models.Model):
    """One run of the reminder job: for which day, who asked, what it did, or why it failed."""

    today = models.DateField(_("for the day"))
    state = models.CharField(_("state"), max_length=12, choices=ReminderRunState.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created = models.PositiveIntegerField(_("notifications created"), default=0)
    withdrawn = models.PositiveIntegerField(_("notifications withdrawn"), default=0)
    emailed = models.PositiveIntegerField(_("emails sent"), default=0)
    email_errors = models.PositiveIntegerField(_("email errors"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("reminder run")
        verbose_name_plural = _("reminder runs")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "today"])]

    def __str__(self):
        return f"{self.today} · {self.get_state_display()}"


class Notification(models.Model):
    """One reminder to one person: shown in the inbox at once, and emailed unless they chose otherwise.

    (kind, subject, recipient, window) is unique: `subject` names what it is about ("duty:12",
    "meeting:5:branch_committee") and `window` which occurrence ("2026-12-31@7" – the due date and
    the lead time), so a second run, or a second worker, cannot send it again.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
        db_index=False,  # the inbox index starts with it
    )
    kind = models.CharField(_("kind"), max_length=24, choices=NotificationKind.choices)
    subject = models.CharField(_("about"), max_length=64)
    window = models.CharField(_("window"), max_length=32)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    object_id = models.BigIntegerField(_("record id"), null=True, blank=True)
    due_on = models.DateField(_("due on"), null=True, blank=True)
    # What the message says, kept as data and worded in the reader's language when shown or mailed.
    params = models.JSONField(_("details"), default=dict, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    run = models.ForeignKey(
        ReminderRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("run"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_reason = models.CharField(_("withdrawn because"), max_length=16, blank=True)
    email_state = models.CharField(_("email"), max_length=12, choices=EmailState.choices, default=EmailState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claim = models.CharField(_("claimed by"), max_length=32, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject", "recipient", "window"], name="notification_once_per_window"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_inbox"),
            models.Index(fields=["email_state", "next_attempt_at"], name="notification_outbox"),
            # A run reads the keys written in the last days, so as to insert only new ones.
            models.Index(fields=["kind", "created_at"], name="notification_recent"),
            # The daily check for reminders to withdraw reads only those still live.
            models.Index(
                fields=["kind", "due_on"],
                condition=models.Q(read_at=None, withdrawn_at=None),
                name="notification_live",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.subject} · {self.window}"

    @property
    def withdrawn(self):
        return self.withdrawn_at is not None


class NotificationPreference(models.Model):
    """How a person wants reminders: by email or only in the portal, one by one or in a daily digest."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
        verbose_name=_("user"),
    )
    email_enabled = models.BooleanField(_("send reminders by email"), default=True)
    daily_digest = models.BooleanField(
        _("one email a day"), default=False, help_text=_("Collect the day's reminders into one email.")
    )
    language = models.CharField(_("email language"), max_length=8, choices=settings.LANGUAGES, default="zh-hans")

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self):
        return str(self.user)


API_TOKEN_MAX_DAYS = 365


class ApiToken(models.Model):
    """A personal token another system uses to call the API as its owner, seeing exactly what the owner sees.

    Only a hash of the secret is kept: the plain token is shown once, when it is created. The public
    prefix finds the row; the hash of the whole token must then match.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(
        _("name"),
        max_length=60,
        validators=[reject_markup],
        help_text=_("What the token is for, e.g. the system using it."),
    )
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(_("hash of the secret"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now):
        return self.revoked_at is None and self.expires_at > now


class ApiTokenUse(models.Model):
    """One call made with an API token: when, what was asked, what it answered, from where.

    One row per request, written once after the answer (a single INSERT, a fraction of a millisecond): the owner
    needs to see each call, which a per-minute count per token would lose (which paths, which answers, which
    addresses). The volume is bounded by the token's rate limit (`API_RATE`) and by the retention
    (`API_TOKEN_USE_DAYS`, pruned nightly). Refused calls of a real token (expired, revoked, over its budget) are
    kept at most once per token, answer and minute; a wrong secret is no use of any token and is not kept.
    """

    # No index of its own: the (token, at) index below serves the lookups by token and the cascade.
    token = models.ForeignKey(
        ApiToken, on_delete=models.CASCADE, related_name="uses", db_index=False, verbose_name=_("API token")
    )
    at = models.DateTimeField(_("at"))
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=300)
    status = models.PositiveSmallIntegerField(_("answer"))
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token use")
        verbose_name_plural = _("API token uses")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["token", "-at"], name="portal_tokenuse_token_at"),
            models.Index(fields=["at"], name="portal_tokenuse_at"),  # the nightly prune
        ]

    def __str__(self):
        return f"{self.method} {self.path} {self.status}"


class DashboardSetting(models.Model):
    """The norms the organization department's dashboards measure against, as data an admin edits (one row):
    the party-affairs staffing norm (full-time staff as a share of the unit's staff, 1%–2% by default: 机关基层组织
    工作条例 art. 29) and how far ahead a committee's coming election is flagged (90 days by default)."""

    staffing_min_share = models.DecimalField(
        _("staffing norm, lower bound"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0100"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text=_("Full-time party-affairs staff as a share of the staff headcount, e.g. 0.01 for 1%."),
    )
    staffing_max_share = models.DecimalField(
        _("staffing norm, upper bound"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0200"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    term_warning_days = models.PositiveSmallIntegerField(
        _("days before an election is flagged"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LEAD_DAYS)],
        help_text=_("A committee whose next election is due within this many days is listed on the dashboard."),
    )

    class Meta:
        verbose_name = _("dashboard setting")
        verbose_name_plural = _("dashboard settings")

    def __str__(self):
        return str(self._meta.verbose_name)

    def clean(self):
        if (
            self.staffing_min_share is not None
            and self.staffing_max_share is not None
            and self.staffing_max_share < self.staffing_min_share
        ):
            raise ValidationError({"staffing_max_share": _("The upper bound must not lie below the lower bound.")})

    @classmethod
    def current(cls):
        return cls.objects.order_by("pk").first() or cls()


class DashboardSnapshot(models.Model):
    """The figures of one organization's dashboard over one period, for one sector and kind ("": every one), as
    `portal.selectors.dashboard_of` computed them at `computed_at` (`portal.dashboard_snapshots` writes and reads
    them as JSON). Kept by a job for the subtrees large enough (`DASHBOARD_SNAPSHOT_MIN_ORGS` organizations or
    more): the running year, quarter and month without a filter every 15 minutes, any other when a page asks for it.

    `requested_at` is when a page last asked for it to be (re)computed; `figures` stays empty until the first
    computation is done."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    period = models.CharField(_("period"), max_length=10)  # the span's key: 2026, 2026-Q4, 2026-11
    sector = models.CharField(_("sector"), max_length=24, blank=True)
    kind = models.CharField(_("kind"), max_length=24, blank=True)
    figures = models.JSONField(_("figures"), null=True, blank=True)
    # The heatmap's cells, {organization id: cells}, apart from the other figures: a page reads only its own rows'
    # (a root's snapshot holds every child's, hundreds of kilobytes, that decoding whole would cost each page).
    cells = models.JSONField(_("heatmap cells"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    requested_at = models.DateTimeField(_("requested at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dashboard snapshot")
        verbose_name_plural = _("dashboard snapshots")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "period", "sector", "kind"], name="dashboard_snapshot_unique"
            )
        ]

    def __str__(self):
        return f"{self.organization_id} · {self.period} · {self.sector or '*'} · {self.kind or '*'}"


class DashboardSnapshotRun(models.Model):
    """One run of the job keeping the dashboards' snapshots: how many subtrees and snapshots, how long, or why it
    failed (the jobs page lists them)."""

    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    organizations = models.PositiveIntegerField(_("organizations"), default=0)
    snapshots = models.PositiveIntegerField(_("snapshots"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("dashboard snapshot run")
        verbose_name_plural = _("dashboard snapshot runs")
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} · {self.snapshots}"

    @property
    def seconds(self):
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


class DailyFigures(models.Model):
    """What a committee's subtree had overdue on one day, taken by the daily job: the figures the month summaries do
    not keep as of each day, so that the dashboard's trend lines cost one indexed read and stay as they were whatever
    is edited later. One row per committee (党委, 党总支: the nodes a dashboard is read for) per day."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    day = models.DateField(_("day"))
    duties_overdue = models.PositiveIntegerField(_("duties overdue"), default=0)
    rectifications_overdue = models.PositiveIntegerField(_("rectifications overdue"), default=0)
    terms_overdue = models.PositiveIntegerField(_("committees past their election"), default=0)
    taken_at = models.DateTimeField(_("taken at"), auto_now=True)

    class Meta:
        verbose_name = _("daily figures")
        verbose_name_plural = _("daily figures")
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="daily_figures_unique")]

    def __str__(self):
        return f"{self.organization_id} · {self.day}"


def report_path(instance, filename):
    # A random name under the private media folder (never served but through the download view, which checks scope).
    return f"reports/{instance.organization_id}/{uuid.uuid4().hex}.{instance.format}"


class ReportFormat(models.TextChoices):
    XLSX = "xlsx", _("Excel workbook")
    PDF = "pdf", _("PDF")


class ReportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", pgettext_lazy("dashboard report", "Failed")


class ReportStage(models.TextChoices):
    QUEUED = "queued", _("waiting for the job")
    STARTED = "started", _("reading the figures")
    FIGURES = "figures", _("figures read, making the tables")
    TABLES = "tables", _("tables made, writing the file")
    LAID_OUT = "laid_out", _("pages laid out, writing the PDF")
    WRITTEN = "written", _("file written, saving it")
    SAVED = "saved", _("saved")


class DashboardReport(models.Model):
    """A dashboard report (一键生成报告) of a large subtree, built by a job rather than in the request: what was
    asked (organization, period, filters, format), how far the job is, and the file once done. The file lies in the
    private media folder; only the download view, which checks the reader's scope, hands it out. Old ones are
    removed nightly (`DASHBOARD_REPORT_DAYS`)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    period = models.CharField(_("period"), max_length=10)  # the span's key: 2026, 2026-Q4, 2026-11
    sector = models.CharField(_("sector"), max_length=24, blank=True)
    kind = models.CharField(_("kind"), max_length=24, blank=True)
    format = models.CharField(_("format"), max_length=4, choices=ReportFormat.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    state = models.CharField(_("state"), max_length=8, choices=ReportState.choices, default=ReportState.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    stage = models.CharField(_("stage"), max_length=8, choices=ReportStage.choices, default=ReportStage.QUEUED)
    # When the snapshot the figures were read from was computed: an identical request over the same snapshot
    # takes this file rather than building another.
    snapshot_at = models.DateTimeField(_("figures as of"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to=report_path, max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dashboard report made by a job")
        verbose_name_plural = _("dashboard reports made by a job")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["organization", "period", "sector", "kind", "format"], name="dashboard_report_key"),
            models.Index(fields=["created_at"], name="dashboard_report_created"),  # the nightly prune
        ]

    def __str__(self):
        return f"{self.organization_id} · {self.period} · {self.format} · {self.get_state_display()}"

    @property
    def is_busy(self):
        return self.state in (ReportState.QUEUED, ReportState.RUNNING)

    @property
    def is_ready(self):
        return self.state == ReportState.DONE and bool(self.file)

    @property
    def progress_step(self):
        """The progress rounded down to 5%, the bar's width (a class of static/portal/portal.css)."""
        return min(self.progress, 100) // 5 * 5
