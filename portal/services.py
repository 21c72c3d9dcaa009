"""Writes for reminders and notifications: the daily run, email delivery, the inbox, preferences.

Nothing here sends twice: a notification is unique per (kind, subject, recipient, window), and an
email is sent only by the worker that claimed the row with a conditional UPDATE. A run that dies
leaves its notifications unwritten (one transaction) and claimed emails are taken over after
CLAIM_TIMEOUT, so the next run finishes the work.
"""

import csv
import hashlib
import hmac
import io
import json
import logging
import secrets
import tempfile
import traceback
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from assessments import ratings
from assessments import selectors as duty_selectors
from branches import access, audit, periods
from branches import dashboard as branch_figures
from branches import selectors as branch_selectors
from branches.models import OrganizationKind, Period, Sector
from branches.validators import typed
from portal import dashboard_codec, notices, reminders, reports, selectors
from portal.models import (
    ApiToken,
    ApiTokenUse,
    DailyFigures,
    DashboardReport,
    DashboardSetting,
    DashboardSnapshot,
    DashboardSnapshotRun,
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
    ReminderRun,
    ReminderRunState,
    ReportFormat,
    ReportStage,
    ReportState,
)

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=15)  # a claim older than this belonged to a worker that died
RUN_TIMEOUT = timedelta(hours=2)  # a run "running" longer than this was interrupted
QUEUED_GRACE = timedelta(minutes=1)  # a queued run the broker has not started by then is started by the tick
BATCH = 200
WITHDRAW_HORIZON = timedelta(days=400)  # the longest period judged (a year) and its catch-up

MEETING_KINDS = (NotificationKind.MEETING_DUE, NotificationKind.MEETING_OVERDUE)


def _the_record(owed):
    """The record a notification names (its `object_id`), while it is still owed."""
    return lambda: owed().filter(pk=OuterRef("object_id"))


def _reviews_awaiting():
    """A review reminder is about its round's assessments awaiting review in the assessor's own subtree (the
    notification's organization): done for one assessor when theirs are, whatever other subtrees still owe."""
    return duty_selectors.reviews_awaiting(OuterRef("object_id"), OuterRef("organization__path"))


# Kinds about records with a due date: what is still owed (matched to the notification), and its due date field.
RECORD_KINDS = (
    ((NotificationKind.DUTY_DUE, NotificationKind.DUTY_OVERDUE), _the_record(duty_selectors.open_duties), "due_on"),
    (
        (NotificationKind.RECTIFICATION_DUE, NotificationKind.RECTIFICATION_OVERDUE),
        _the_record(duty_selectors.findings_awaiting_organization),
        "deadline",
    ),
    ((NotificationKind.TERM_ENDING,), _the_record(branch_selectors.open_terms), "expected_election_on"),
    (
        (NotificationKind.SELF_ASSESSMENT_DUE,),
        _the_record(duty_selectors.assessments_awaiting_organization),
        "round__self_assessment_due",
    ),
    ((NotificationKind.REVIEW_DUE,), _reviews_awaiting, "round__review_due"),
)


@dataclass
class RunSummary:
    today: object
    run_id: int | None = None
    created: dict = field(default_factory=dict)  # kind -> notifications created
    withdrawn: int = 0
    emailed: int = 0
    email_errors: int = 0
    dry_run: bool = False

    @property
    def created_total(self):
        return sum(self.created.values())


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


# The daily run


def reminders_send(*, today=None, run=None, dry_run=False, requested_by=None):
    """Create the day's notifications, withdraw those no longer due, then email them.

    Safe to run any number of times, on any number of workers. `dry_run` computes everything in a
    transaction that is rolled back, so it reports exactly what a real run would create.
    """
    today = today or timezone.localdate()
    if dry_run:
        with transaction.atomic():
            summary = _plan_and_write(today, ReminderRun.objects.create(today=today, state=ReminderRunState.RUNNING))
            summary.dry_run = True
            transaction.set_rollback(True)
        summary.run_id = None
        return summary

    _mark_interrupted_runs()
    if run is None:
        run = ReminderRun.objects.create(
            today=today, state=ReminderRunState.RUNNING, started_at=timezone.now(), requested_by=requested_by
        )
    elif not ReminderRun.objects.filter(pk=run.pk, state=ReminderRunState.QUEUED).update(
        state=ReminderRunState.RUNNING, started_at=timezone.now()
    ):
        return None  # another worker took this queued run
    try:
        with audit.as_job("send_reminders"), transaction.atomic():
            summary = _plan_and_write(run.today, run)
        delivery = notifications_deliver(include_digest=True)
    except Exception:
        ReminderRun.objects.filter(pk=run.pk).update(
            state=ReminderRunState.FAILED, finished_at=timezone.now(), error=traceback.format_exc()[-4000:]
        )
        raise
    summary.emailed, summary.email_errors = delivery.sent, delivery.failed
    ReminderRun.objects.filter(pk=run.pk).update(
        state=ReminderRunState.DONE,
        finished_at=timezone.now(),
        created=summary.created_total,
        withdrawn=summary.withdrawn,
        emailed=delivery.sent,
        email_errors=delivery.failed,
    )
    return summary


def _plan_and_write(today, run):
    plan = reminders.plan(today, _digest_since(today))
    new = _not_yet_written(plan)
    _insert(new, run)
    if len(new) > 10_000 and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE portal_notification")  # fresh statistics, or delivery plans badly
    created = dict(run.notifications.values_list("kind").annotate(n=Count("pk")).order_by())
    # Reminders about things due long ago are left as they are: the daily check stays bounded.
    recent = Notification.objects.filter(read_at=None, due_on__gte=today - WITHDRAW_HORIZON)
    withdrawn = _withdraw_records(recent) + _withdraw_meetings(plan, recent)
    return RunSummary(today=today, run_id=run.pk, created=created, withdrawn=withdrawn)


CREATE_NEW_TABLE = (
    'CREATE TEMPORARY TABLE reminder_new (recipient_id integer, kind text, subject text, "window" text, '
    "organization_id bigint, object_id bigint, due_on date, params jsonb, link text)"
)
COPY_NEW = (
    'COPY reminder_new (recipient_id, kind, subject, "window", organization_id, object_id, due_on, params, link) '
    "FROM STDIN WITH (FORMAT csv)"
)
INSERT_NEW = (
    'INSERT INTO portal_notification (recipient_id, kind, subject, "window", organization_id, object_id, due_on, '
    "params, link, run_id, created_at, withdrawn_reason, email_state, attempts, claim, last_error) "
    'SELECT recipient_id, kind, subject, "window", organization_id, object_id, due_on, params, link, '
    "%s, now(), '', %s, 0, '', '' FROM reminder_new ON CONFLICT DO NOTHING"
)


def _insert(new, run):
    """Write the new notifications; one of them written a moment ago by another worker is skipped."""
    if connection.vendor != "postgresql":
        Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=r.recipient_id,
                    kind=r.kind,
                    subject=r.subject,
                    window=r.window,
                    organization_id=r.organization_id,
                    object_id=r.object_id,
                    due_on=r.due_on,
                    params=r.params,
                    link=r.link,
                    run=run,
                )
                for r in new
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        return
    # On PostgreSQL, COPY into a temporary table and one INSERT … SELECT: at 200,000 rows this takes
    # a few seconds, where building as many model instances for bulk_create takes tens.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for r in new:
        params = json.dumps(r.params, ensure_ascii=False, separators=(",", ":"))
        due = r.due_on.isoformat() if r.due_on else None
        writer.writerow(
            (r.recipient_id, r.kind, r.subject, r.window, r.organization_id, r.object_id, due, params, r.link)
        )
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute(CREATE_NEW_TABLE)
        cursor.cursor.copy_expert(COPY_NEW, buffer)
        cursor.execute(INSERT_NEW, [run.pk, EmailState.PENDING])
        cursor.execute("DROP TABLE reminder_new")


def _not_yet_written(plan):
    """The planned reminders not written before. A reminder's window is open for a few days, so each
    run plans again what earlier runs wrote; reading those keys (one query per kind, over the days a
    window lasts) costs far less than sending every row to the database to be refused."""
    now = timezone.now()
    written = set()
    for kind in {r.kind for r in plan.reminders}:
        since = now - timedelta(days=plan.lookback.get(kind, reminders.MAX_LOOKBACK) + 2)
        written.update(
            Notification.objects.filter(kind=kind, created_at__gte=since)
            .values_list("kind", "subject", "recipient_id", "window")
            .iterator(chunk_size=20_000)
        )
    return [r for r in plan.reminders if (r.kind, r.subject, r.recipient_id, r.window) not in written]


def _digest_since(today):
    """The first due date today's digest covers: the day of the last completed run before today."""
    last = ReminderRun.objects.filter(state=ReminderRunState.DONE, today__lt=today).aggregate(day=Max("today"))["day"]
    floor = today - timedelta(days=reminders.DIGEST_MAX_DAYS)
    return max(last or today - timedelta(days=1), floor)


def _withdraw(queryset, reason):
    now = timezone.now()
    return queryset.update(
        withdrawn_at=now,
        withdrawn_reason=reason,
        email_state=Case(
            When(email_state=EmailState.PENDING, then=Value(EmailState.WITHDRAWN)), default=F("email_state")
        ),
    )


def _withdraw_records(live):
    """Withdraw reminders about records done since, or whose due date moved (a new one follows the new date)."""
    live = live.filter(withdrawn_at=None)
    withdrawn = 0
    for kinds, owed, due_field in RECORD_KINDS:
        same = owed().filter(**{due_field: OuterRef("due_on")})
        still_open = owed()
        of_kind = live.filter(kind__in=kinds)
        withdrawn += _withdraw(of_kind.filter(~Exists(same), Exists(still_open)), "moved")
        withdrawn += _withdraw(of_kind.filter(~Exists(same)), "done")
    return withdrawn


def _withdraw_meetings(plan, recent):
    """Withdraw meeting reminders for periods judged today that are now met."""
    if not plan.judged_spans:
        return 0
    met = []
    rows = recent.filter(kind__in=MEETING_KINDS, withdrawn_at=None).values_list("pk", "subject", "window")
    for pk, subject, window in rows.iterator(chunk_size=5000):
        span_key = window.split("@")[0]
        if span_key not in plan.judged_spans:
            continue
        _prefix, organization_id, meeting_type = subject.split(":")
        if (int(organization_id), meeting_type, span_key) not in plan.unmet_meetings:
            met.append(pk)
    return sum(
        _withdraw(Notification.objects.filter(pk__in=met[i : i + 1000]), "done") for i in range(0, len(met), 1000)
    )


def _mark_interrupted_runs():
    ReminderRun.objects.filter(state=ReminderRunState.RUNNING, started_at__lt=timezone.now() - RUN_TIMEOUT).update(
        state=ReminderRunState.INTERRUPTED, finished_at=timezone.now()
    )


# Runs asked for from a page


def reminder_run_request(*, by, today=None):
    """Queue a run now (an admin's button). The caller enqueues it; if the broker cannot take it,
    the periodic tick starts it once the queue works again (start_queued_runs)."""
    access.require(by, access.ADMINISTER, None)
    return ReminderRun.objects.create(
        today=today or timezone.localdate(), state=ReminderRunState.QUEUED, requested_by=by
    )


def start_queued_runs():
    """Runs queued more than a minute ago and never started (the broker was down): start them here."""
    started = 0
    for run in ReminderRun.objects.filter(
        state=ReminderRunState.QUEUED, created_at__lt=timezone.now() - QUEUED_GRACE
    ).order_by("pk"):
        if reminders_send(run=run) is not None:
            started += 1
    return started


# Email delivery


def _due_for_email(now):
    return Q(email_state=EmailState.PENDING) & (Q(next_attempt_at=None) | Q(next_attempt_at__lte=now)) | Q(
        email_state=EmailState.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    )


def notifications_deliver(*, include_digest=False, now=None):
    """Email what is waiting. Users who chose one email a day are served only when `include_digest`
    (the daily run). Each failure is recorded on its notification and retried later with backoff."""
    now = now or timezone.now()
    result = Delivery()
    # Withdraw first what became done since the notification was made: no reminder for finished work.
    _withdraw_records(Notification.objects.filter(email_state=EmailState.PENDING))
    waiting = Notification.objects.filter(_due_for_email(now), withdrawn_at=None)
    if not include_digest:
        waiting = waiting.exclude(
            Exists(
                NotificationPreference.objects.filter(user=OuterRef("recipient"), daily_digest=True, email_enabled=True)
            )
        )
    connection = None
    last = 0
    try:
        while True:
            # Onwards from the last batch: rows handled (or put off for a retry) are not read again.
            ids = list(waiting.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            last = ids[-1]
            token = uuid.uuid4().hex
            # The conditional UPDATE is the claim: a row another worker took in between no longer matches.
            Notification.objects.filter(_due_for_email(now), pk__in=ids).update(
                email_state=EmailState.SENDING, claim=token, claimed_at=now
            )
            claimed = list(
                Notification.objects.filter(claim=token, email_state=EmailState.SENDING)
                .select_related("recipient", "recipient__notification_preference")
                .order_by("recipient_id", "pk")
            )
            by_user = defaultdict(list)
            for notification in claimed:
                by_user[notification.recipient_id].append(notification)
            if connection is None and claimed:
                connection = get_connection(fail_silently=False)
            for rows in by_user.values():
                _deliver_to(rows, token, now, connection, result)
    finally:
        if connection is not None:
            try:
                connection.close()
            except Exception:  # closing a broken SMTP session must not hide what was done
                logger.warning("closing the mail connection failed", exc_info=True)
    return result


def _preference(user):
    try:
        return user.notification_preference
    except NotificationPreference.DoesNotExist:
        return NotificationPreference(user=user)


def _deliver_to(rows, token, now, connection, result):
    user = rows[0].recipient
    preference = _preference(user)
    if not preference.email_enabled or not user.email:
        reason = (
            _("Email reminders are turned off.")
            if not preference.email_enabled
            else _("The user has no email address.")
        )
        _finish(rows, token, EmailState.SKIPPED, now, error=reason)
        result.skipped += len(rows)
        return
    with translation.override(preference.language):
        if preference.daily_digest and len(rows) > 1:
            batches = [(rows, notices.email_bundle(rows, user, timezone.localdate(now)))]
        else:
            batches = [([row], notices.email_one(row, user)) for row in rows]
    for group, (subject, body) in batches:
        try:
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], connection=connection).send()
        except Exception as error:  # any mail failure: record it on the rows, retry later, go on with the rest
            logger.warning("reminder email to user %s failed: %s", user.pk, error)
            _finish(group, token, None, now, error=f"{type(error).__name__}: {error}"[:2000])
            result.failed += len(group)
        else:
            # Recorded at once, email by email: a worker killed now re-sends at most this one.
            _finish(group, token, EmailState.SENT, now)
            result.sent += len(group)


def _finish(rows, token, state, now, error=""):
    """Record the outcome, only on rows still claimed by this delivery."""
    ids = [row.pk for row in rows]
    mine = Notification.objects.filter(pk__in=ids, claim=token, email_state=EmailState.SENDING)
    if state is not None:
        mine.update(
            email_state=state,
            attempts=F("attempts") + (1 if state == EmailState.SENT else 0),
            sent_at=now if state == EmailState.SENT else None,
            last_error=error,
            claim="",
        )
        return
    attempts = rows[0].attempts + 1
    if attempts >= settings.REMINDER_EMAIL_ATTEMPTS:
        mine.update(email_state=EmailState.FAILED, attempts=attempts, last_error=error, claim="")
        return
    delay = timedelta(minutes=settings.REMINDER_RETRY_MINUTES * 2 ** (attempts - 1))
    mine.update(
        email_state=EmailState.PENDING, attempts=attempts, next_attempt_at=now + delay, last_error=error, claim=""
    )


def notifications_retry(*, queryset, by):
    """Send failed emails again at the next delivery (an admin's action, on notifications of their subtrees)."""
    mine = access.scoped(by, Notification.objects.all(), access.ADMINISTER)
    if not access.has_any(by, access.ADMINISTER) or queryset.exclude(pk__in=mine.values("pk")).exists():
        raise PermissionDenied
    return queryset.filter(email_state=EmailState.FAILED, withdrawn_at=None).update(
        email_state=EmailState.PENDING, attempts=0, next_attempt_at=None
    )


# The inbox


# The inbox and the settings are the person's own: nobody acts on another's.


def notification_open(*, notification, by):
    if notification.recipient_id != by.pk:
        raise PermissionDenied
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at=None).update(read_at=timezone.now())


def notifications_mark_read(*, by, ids=None):
    unread = Notification.objects.filter(recipient=by, read_at=None)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def preference_save(*, by, data):
    """Save the person's own reminder settings and email address."""
    preference = NotificationPreference.objects.filter(user=by).first() or NotificationPreference(user=by)
    preference.email_enabled = data["email_enabled"]
    preference.daily_digest = data["daily_digest"]
    preference.language = data["language"]
    preference.full_clean(exclude=["user"])
    email = data.get("email", by.email)
    if email != by.email:
        try:
            email = by._meta.get_field("email").clean(email, by)
        except ValidationError as error:
            raise ValidationError({"email": error.messages}) from None
    with transaction.atomic():
        preference.save()
        if email != by.email:
            by.email = email
            by.save(update_fields=["email"])
    return preference


def preference_language(*, by, language):
    """The language switch sets the reminder emails' language as well."""
    preference = NotificationPreference.objects.filter(user=by).first() or NotificationPreference(user=by)
    preference.language = language
    preference.full_clean(exclude=["user"])
    preference.save()


# --- personal API tokens ----------------------------------------------------------------

API_TOKEN_TOUCH_SECONDS = 60  # last_used_at is refreshed at most once a minute


def rating_tickets_send(*, rating, audience, by, now=None) -> int:
    """Put one ticket of an audience of portal users (the superior committee, the peer organizations) into the inbox
    of each of its people who has none yet, and email it as the other notifications are. Returns how many were sent.

    The inbox holds the ticket's link as a printed sheet holds its code: the ballot cast with it is stored with no
    link to the ticket (assessments.ratings), so nobody can tell from the portal what a person voted.
    """
    access.require(by, access.REVIEW, rating.organization)
    if audience.kind not in ratings.INBOX_AUDIENCES:
        raise ValidationError(_("Only the tickets of the superior committee and of peer organizations go to inboxes."))
    subject = f"rating:{rating.pk}:{audience.pk}"
    already = Notification.objects.filter(kind=NotificationKind.RATING_TICKET, subject=subject).values("recipient")
    recipients = list(ratings.inbox_recipients(rating, audience).exclude(pk__in=already))
    if not recipients:
        raise ValidationError(_("Everyone of this audience who uses the portal has a ticket in their inbox already."))
    with transaction.atomic():
        codes = ratings.inbox_tickets_issue(rating=rating, audience=audience, count=len(recipients), by=by, now=now)
        closes = timezone.localtime(rating.closes_at)
        Notification.objects.bulk_create(
            Notification(
                recipient=user,
                kind=NotificationKind.RATING_TICKET,
                subject=subject,
                window="ticket",
                organization=rating.organization,
                object_id=rating.pk,
                due_on=closes.date(),
                params={
                    "title": rating.title,
                    "audience": audience.kind,
                    "closes": closes.strftime("%Y-%m-%d %H:%M"),
                },
                link=reverse("vote:ballot", args=[code]),
            )
            for user, code in zip(recipients, codes, strict=True)
        )
    return len(recipients)


def daily_figures_take(*, by, today=None) -> int:
    """Keep what each committee's subtree has overdue today (duties, rectifications, committees past their election)
    as today's row of `DailyFigures`, replacing one taken earlier the same day. Set-based: a few grouped queries per
    level of the tree, whatever its size. Returns the committees written."""
    if not access.is_everywhere(by):
        raise PermissionDenied
    today = today or timezone.localdate()
    figures = {
        "duties_overdue": duty_selectors.open_duties().filter(due_on__lt=today),
        "rectifications_overdue": duty_selectors.findings_overdue(today),
        "terms_overdue": branch_selectors.open_terms().filter(expected_election_on__lt=today),
    }
    counts = {name: branch_figures.per_ancestor(rows) for name, rows in figures.items()}
    committees = branch_figures.committees_by_path()
    rows = [
        DailyFigures(organization_id=pk, day=today, **{name: counts[name].get(path, 0) for name in figures})
        for path, pk in committees.items()
    ]
    with transaction.atomic():
        DailyFigures.objects.filter(day=today).delete()
        DailyFigures.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def _token_hash(plain):
    return hashlib.sha256(plain.encode()).hexdigest()


def api_token_create(*, by, name, expires_on) -> tuple[ApiToken, str]:
    """A new personal token for `by`, valid through `expires_on` (Beijing time), at most API_TOKEN_MAX_DAYS ahead.

    Returns (token, plain); the plain token is shown once and never stored, only its hash.
    """
    today = timezone.localdate()
    errors = {}
    if expires_on is None:
        errors["expires_on"] = [_("Choose the last day the token may be used.")]
    elif expires_on < today:
        errors["expires_on"] = [_("The last day of use cannot lie in the past.")]
    elif expires_on > today + timedelta(days=settings.API_TOKEN_MAX_DAYS):
        errors["expires_on"] = [_("A token lasts at most %(days)d days.") % {"days": settings.API_TOKEN_MAX_DAYS}]
    # Counted only from a day within bounds: the day after the last day of the calendar does not exist.
    expires_at = (
        timezone.make_aware(datetime.combine(expires_on + timedelta(days=1), time.min))
        if expires_on and "expires_on" not in errors
        else None
    )
    token = ApiToken(user=by, name=(name or "").strip(), expires_at=expires_at, prefix=secrets.token_hex(6))
    plain = f"{token.prefix}.{secrets.token_urlsafe(32)}"
    token.secret_hash = _token_hash(plain)
    try:
        token.full_clean(exclude=["user", "expires_at"])
    except ValidationError as error:
        for field_name, messages in error.message_dict.items():
            errors.setdefault(field_name, messages)
    if errors:
        raise ValidationError(errors)
    token.save()
    return token, plain


def api_token_revoke(*, token, by) -> ApiToken:
    """Revoke a token: one's own, or, as an admin, one of the people whose every role lies in one's subtrees."""
    if not selectors.api_tokens_revocable(by).filter(pk=token.pk).exists():
        raise PermissionDenied
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


class ApiTokenRefused(ValidationError):
    """Why a token is refused; `token` is the token when the secret was right (expired, revoked, account
    disabled), so that the refused call can be recorded as a use of it, and None for a wrong secret."""

    def __init__(self, message, token=None):
        super().__init__(message)
        self.token = token


def api_token_user(*, plain, now):
    """The owner of a usable token, or an ApiTokenRefused saying why the token is refused.

    A successful use refreshes last_used_at (at most once a minute, without an audit entry: it is bookkeeping).
    """
    prefix = (plain or "").split(".", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first() if prefix else None
    if token is None or not hmac.compare_digest(token.secret_hash, _token_hash(plain)):
        raise ApiTokenRefused(_("The API token is not valid."))
    if token.revoked_at is not None:
        raise ApiTokenRefused(_("The API token has been revoked."), token)
    if token.expires_at <= now:
        raise ApiTokenRefused(_("The API token has expired."), token)
    if not token.user.is_active:
        raise ApiTokenRefused(_("The account of this API token is disabled."), token)
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= API_TOKEN_TOUCH_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


# Answers recorded at most once per token, answer and minute: a client looping on a refusal (a dead token, an
# exhausted budget) must not write a row per attempt.
API_TOKEN_USE_REFUSALS = (401, 429)
API_TOKEN_USE_PATH_MAX = ApiTokenUse._meta.get_field("path").max_length


def api_token_use_record(*, token, at, method, path, status, address) -> ApiTokenUse | None:
    """Keep one call made with `token` (see ApiTokenUse for why one row per call). No audit entry: it is a log.

    Returns the row, or None for a refusal already recorded for this token within the minute.
    """
    if status in API_TOKEN_USE_REFUSALS:
        key = f"token-use:{token.prefix}:{status}:{at:%Y%m%d%H%M}"
        if not caches["api_throttle"].add(key, 1, timeout=120):
            return None
    return ApiTokenUse.objects.create(
        token=token,
        at=at,
        method=method[:8],
        path=path[:API_TOKEN_USE_PATH_MAX],
        status=status,
        address=address or None,
    )


def api_token_uses_prune(*, now, days=None) -> int:
    """Forget the calls older than `days` (default API_TOKEN_USE_DAYS); returns how many rows went."""
    days = settings.API_TOKEN_USE_DAYS if days is None else days
    deleted, _by_model = ApiTokenUse.objects.filter(at__lt=now - timedelta(days=days)).delete()
    return deleted


@transaction.atomic
def dashboard_setting_save(*, data, by) -> DashboardSetting:
    """Change the norms the dashboards measure against (the staffing norm, how far ahead elections are flagged): a
    rule of the whole tree, for an admin of a root."""
    access.require(by, access.ADMINISTER, None)
    data = typed(DashboardSetting, data)  # the bounds are compared before they are saved
    setting = DashboardSetting.objects.select_for_update().order_by("pk").first() or DashboardSetting()
    for name, value in data.items():
        setattr(setting, name, value)
    setting.full_clean()
    setting.save()
    return setting


# The dashboards' snapshots (`DashboardSnapshot`): the figures of the large subtrees, kept by a job.

SNAPSHOT_REQUEST_GRACE = timedelta(minutes=10)  # a page asks again only when its last request is this old
SNAPSHOT_RUN_GRACE = timedelta(minutes=30)  # a run this recent and unfinished is running: another one skips


def dashboard_snapshot_compute(*, by, organization, span, sector="", kind="", today=None) -> DashboardSnapshot:
    """Count the figures of the organization's dashboard over `span` for `sector` and `kind` now, through the same
    `selectors.dashboard_of` the page uses, with every sub-organization as a heatmap row, and keep them (an upsert,
    so running it twice, or on two workers at once, leaves one row)."""
    access.require(by, access.OVERSEE, organization)
    _snapshot_filters_check(sector, kind)
    today = today or timezone.localdate()
    rows = selectors.dashboard_snapshot_rows(organization, span)
    figures = selectors.dashboard_of(organization, span, today, rows=rows, sector=sector, kind=kind, live=True)
    data = dashboard_codec.to_json(figures)
    cells = dashboard_codec.cells_apart(data)
    snapshot = DashboardSnapshot(
        organization=organization,
        period=span.key,
        sector=sector,
        kind=kind,
        figures=data,
        cells=cells,
        computed_at=timezone.now(),
    )
    DashboardSnapshot.objects.bulk_create(
        [snapshot],
        update_conflicts=True,
        unique_fields=["organization", "period", "sector", "kind"],
        update_fields=["figures", "cells", "computed_at"],
    )
    return snapshot


def _snapshot_filters_check(sector, kind):
    if sector and sector not in Sector.values:
        raise ValidationError({"sector": _("Choose a sector from the list.")})
    if kind and kind not in OrganizationKind.values:
        raise ValidationError({"kind": _("Choose a kind of organization from the list.")})


def dashboard_snapshot_request(*, by, organization, span, sector="", kind="", now=None) -> bool:
    """A page of the organization's dashboard found its snapshot missing or old: mark it asked for. True when the
    caller should queue its computation (`tasks.refresh_dashboard`), False when a request less than
    SNAPSHOT_REQUEST_GRACE old is already on its way (so a page refreshing itself queues it once)."""
    access.require(by, access.OVERSEE, organization)
    _snapshot_filters_check(sector, kind)
    now = now or timezone.now()
    key = {"organization": organization, "period": span.key, "sector": sector, "kind": kind}
    with transaction.atomic():
        snapshot, created = DashboardSnapshot.objects.get_or_create(**key, defaults={"requested_at": now})
        if created:
            return True
        asked = (
            DashboardSnapshot.objects.filter(pk=snapshot.pk)
            .filter(Q(requested_at=None) | Q(requested_at__lt=now - SNAPSHOT_REQUEST_GRACE))
            .update(requested_at=now)
        )
    return bool(asked)


def dashboards_refresh(*, by, today=None, min_orgs=None) -> DashboardSnapshotRun | None:
    """The job kept every 15 minutes: for every organization whose subtree holds `min_orgs` organizations or more
    (DASHBOARD_SNAPSHOT_MIN_ORGS by default), the snapshots of its dashboard over the running year, quarter and
    month without a filter (`dashboard_snapshot_compute`, each in its own transaction, so a page reads every one
    as soon as it is done). The snapshots of organizations no longer that large are dropped (their pages count
    live again). Recorded as a run the jobs page lists; None when another run is still going."""
    if not access.is_everywhere(by):
        raise PermissionDenied
    today = today or timezone.localdate()
    min_orgs = settings.DASHBOARD_SNAPSHOT_MIN_ORGS if min_orgs is None else min_orgs
    now = timezone.now()
    if DashboardSnapshotRun.objects.filter(
        finished_at=None, error="", started_at__gte=now - SNAPSHOT_RUN_GRACE
    ).exists():
        return None
    run = DashboardSnapshotRun.objects.create()
    try:
        nodes = branch_figures.subtrees_of_at_least(min_orgs)
        spans = [periods.span_of(kind, today) for kind in (Period.YEAR, Period.QUARTER, Period.MONTH)]
        for node in nodes:
            for span in spans:
                with transaction.atomic():
                    dashboard_snapshot_compute(by=by, organization=node, span=span, today=today)
                run.snapshots += 1
        DashboardSnapshot.objects.exclude(organization__in=[node.pk for node in nodes]).delete()
    except Exception:
        DashboardSnapshotRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), snapshots=run.snapshots, error=traceback.format_exc()[-4000:]
        )
        raise
    run.organizations, run.finished_at = len(nodes), timezone.now()
    run.save(update_fields=["organizations", "snapshots", "finished_at"])
    return run


# The dashboard's report of a large subtree (`DashboardReport`): built by a job, its file kept a few days.

REPORT_BUSY_GRACE = timedelta(minutes=30)  # a report queued or running longer than this is taken for lost


def dashboard_report_request(*, by, organization, span, sector="", kind="", format) -> tuple[DashboardReport, bool]:
    """A report of a large subtree's dashboard over `span` (`format` xlsx or pdf), asked for from the dashboard.
    (the report recorded, True) when the caller should have it built (`tasks.build_dashboard_report`, or
    `dashboard_report_build` at once when the queue is away); (an earlier one, False) when an identical report is
    still being built, or was built from the snapshot the dashboard shows now, so it is not built twice."""
    access.require(by, access.OVERSEE, organization)
    _snapshot_filters_check(sector, kind)
    if format not in ReportFormat.values:
        raise ValidationError({"format": _("Choose Excel or PDF.")})
    key = {"organization": organization, "period": span.key, "sector": sector, "kind": kind}
    now = timezone.now()
    with transaction.atomic():
        # The snapshot's row, locked: two identical requests at once make one report.
        snapshot_at = (
            DashboardSnapshot.objects.select_for_update().filter(**key).values_list("computed_at", flat=True).first()
        )
        same = Q(state__in=(ReportState.QUEUED, ReportState.RUNNING), created_at__gte=now - REPORT_BUSY_GRACE)
        if snapshot_at is not None:
            same |= Q(state=ReportState.DONE, snapshot_at=snapshot_at)
        earlier = DashboardReport.objects.filter(**key, format=format).filter(same).order_by("-created_at").first()
        if earlier is not None:
            return earlier, False
        report = DashboardReport(**key, format=format, requested_by=by)
        report.full_clean()
        report.save()
    return report, True


def _report_stage(report, progress, stage):
    """Say how far the job is (its own short write, so the report's page shows it while the job goes on)."""
    DashboardReport.objects.filter(pk=report.pk).update(progress=progress, stage=stage)
    return stage


def dashboard_report_build(*, by, report, today=None) -> DashboardReport:
    """Build a queued report: its figures read as the dashboard reads them (a large subtree's from its snapshot,
    computed first if it is missing), its tables made and written to a file by the same code as a small subtree's
    report sent at once (`portal.reports`), the file kept in the private media folder. The progress is written
    stage by stage. On any failure the report is marked failed with the stage it failed at and no file is left.
    A report already running (another worker, a retry) or finished is left as it is."""
    access.require(by, access.OVERSEE, report.organization)
    now = timezone.now()
    claimed = (
        DashboardReport.objects.filter(pk=report.pk)
        .filter(Q(state=ReportState.QUEUED) | Q(state=ReportState.RUNNING, started_at__lt=now - REPORT_BUSY_GRACE))
        .update(state=ReportState.RUNNING, started_at=now, progress=5, stage=ReportStage.STARTED, error="")
    )
    if not claimed:
        report.refresh_from_db()
        return report
    stage, saved, storage = ReportStage.STARTED, "", report.file.storage

    def laid_out(_pages):  # a PDF's pages are laid out: most of its time is behind it
        nonlocal stage
        stage = _report_stage(report, 75, ReportStage.LAID_OUT)

    try:
        node, span = report.organization, periods.parse(report.period)
        today = today or timezone.localdate()
        filters = {"sector": report.sector, "kind": report.kind}
        rows = list(branch_figures.sub_organizations(node, span)) or [node]
        figures = selectors.dashboard_of(node, span, today, rows=rows, **filters)
        if figures is None:  # the snapshot is not there (yet, or any more): compute it first
            dashboard_snapshot_compute(by=by, organization=node, span=span, today=today, **filters)
            figures = selectors.dashboard_of(node, span, today, rows=rows, **filters)
        stage = _report_stage(report, 30, ReportStage.FIGURES)
        report_tables = reports.tables_of(node, span, figures, rows=rows, today=today)
        stage = _report_stage(report, 45, ReportStage.TABLES)
        with tempfile.TemporaryFile() as target:
            reports.write(
                report_tables,
                target,
                report.format,
                node=node,
                span=span,
                figures=figures,
                laid_out=laid_out,
            )
            stage = _report_stage(report, 90, ReportStage.WRITTEN)
            target.seek(0)
            saved = storage.save(report.file.field.generate_filename(report, ""), File(target))
        finished = DashboardReport.objects.filter(pk=report.pk, state=ReportState.RUNNING).update(
            state=ReportState.DONE,
            progress=100,
            stage=ReportStage.SAVED,
            file=saved,
            snapshot_at=figures.computed_at,
            finished_at=timezone.now(),
        )
        if not finished:  # removed (or taken over) meanwhile: keep no file nobody points at
            storage.delete(saved)
    except Exception:
        logger.exception("dashboard report %s failed at %s", report.pk, stage)
        if saved:
            storage.delete(saved)
        with translation.override(settings.LANGUAGE_CODE):
            error = _(
                "The report could not be made (%(stage)s). Ask for it again; if it fails again, tell the administrator."
            ) % {"stage": ReportStage(stage).label}
        DashboardReport.objects.filter(pk=report.pk).update(
            state=ReportState.FAILED, file="", error=error, finished_at=timezone.now()
        )
    report.refresh_from_db()
    return report


def dashboard_reports_prune(*, now, days=None) -> int:
    """Remove the reports older than `days` (default DASHBOARD_REPORT_DAYS) and their files; returns how many went.
    The files first: a file that cannot be removed keeps its row, tried again the next night."""
    days = settings.DASHBOARD_REPORT_DAYS if days is None else days
    old = DashboardReport.objects.filter(created_at__lt=now - timedelta(days=days))
    storage = DashboardReport._meta.get_field("file").storage
    gone = []
    for pk, name in old.values_list("pk", "file"):
        try:
            if name:
                storage.delete(name)
        except OSError:
            logger.warning("could not remove the report file %s", name, exc_info=True)
            continue
        gone.append(pk)
    deleted, _by_model = DashboardReport.objects.filter(pk__in=gone).delete()
    return deleted
