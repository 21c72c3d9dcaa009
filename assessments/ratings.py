"""Ratings by ticket (述职评议, 群众民意测评): setting one up, issuing tickets, voting, closing, publishing.

The service contract of branches.services holds (`by=` checked first through the access helper, values validated,
one transaction, nothing written when refused), with one exception: a vote has no user. Its ticket is its
credential, and `ballot_cast` is the one service that takes none.

Tickets. A code is 13 characters of Crockford's base 32 (65 random bits from `secrets`), shown in groups of four
(`7KQ2-M9XD-4TRB-A`); typing is forgiving (case, spaces, dashes, O for 0, I and L for 1). Only its keyed hash is kept
(HMAC-SHA256 with a key derived from SECRET_KEY: `salted_hmac`), so a stolen table cannot be brute-forced offline,
and a new SECRET_KEY voids every unspent ticket. The plain codes leave `tickets_issue` once, for the sheet made at
that moment; issuing again voids the unspent tickets of the earlier batches and issues as many new ones as are
still unspent in each audience.

Votes. `ballot_cast` spends the ticket with one conditional UPDATE (`… WHERE spent = false AND voided = false`) and
inserts the ballot in the same transaction, so a ticket counts once however many submits race, and a ballot never
exists without its spend nor a spend without its ballot. The ballot keeps nothing that links it to the ticket (see
`models.ratings`). While voting runs nobody sees answers, only turnout; closing freezes the results and rewrites
the rating's ballots and tickets in a shuffled order in one transaction (`_mix`), so that row order and transaction
ids no longer tell which ballot came with which spend either.

Results. Each answer gives points out of 100 (grades by the rating's `grade_points`, 好 100 / 较好 80 / 一般 60 /
差 0 by default; a 1–5 answer 20 points a step). An audience's score is the mean of its answers; the rating's score
is the mean of the audiences' scores weighted by their weights (which add up to 100%), over the audiences that
voted (an audience with no ballot is left out and the weights of the others scaled up: the "why" says so).
Publishing writes the score as the organization's survey result of the round (respondents: the tickets used;
satisfied share: the score / 100) with the "why", which the survey indicator reads (metric `survey_satisfaction`).
"""

import random
import secrets
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from assessments import surveys
from assessments.models import (
    Assessment,
    AssessmentState,
    AudienceKind,
    Grade,
    Rating,
    RatingAudience,
    RatingBallot,
    RatingQuestion,
    RatingState,
    RatingTicket,
    RoundState,
    Scale,
)
from assessments.models.ratings import DEFAULT_GRADE_POINTS
from branches import access, audit
from branches import services as branch_services
from branches.models import AuditEntry, SecurityEventKind
from branches.validators import MARKUP, UNSTORABLE

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
CODE_LENGTH = 13  # 65 bits
TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
HASH_SALT = "assessments.ratings.ticket"
MAX_QUESTIONS = 20
MAX_VOTERS = 20000  # tickets a rating may have in all
MAX_COMMENT = 500
MAX_REPORT = 20000
HUNDRED = Decimal(100)
SCORE = Decimal("0.01")
SHARE = Decimal("0.0001")


# ------------------------------------------------------------------------------------------------- codes


def new_code():
    """A fresh code: 65 random bits as 13 characters of base 32."""
    number = secrets.randbits(CODE_LENGTH * 5)
    return "".join(ALPHABET[(number >> (5 * index)) & 31] for index in range(CODE_LENGTH))


def normalized(typed):
    """What a voter typed, read as a code: upper case, without spaces or dashes, O as 0, I and L as 1."""
    text = "".join(str(typed or "").split()).replace("-", "").upper().translate(TYPED)
    return text if len(text) == CODE_LENGTH and all(char in ALPHABET for char in text) else ""


def shown(code):
    """The code as printed: groups of four."""
    return "-".join(code[index : index + 4] for index in range(0, len(code), 4))


def code_hash(code):
    """The keyed hash kept for a (normalized) code."""
    return salted_hmac(HASH_SALT, code, algorithm="sha256").hexdigest()


# ------------------------------------------------------------------------------------------------- set-up


@dataclass
class Setup:
    """A rating's set-up as a form gives it: the rating's fields, its questions and its audiences."""

    data: dict
    questions: list = field(default_factory=list)  # [{"text": …, "scale": …}]
    audiences: list = field(default_factory=list)  # [{"kind": …, "weight": …, "voters": …}]


def _assessment_of(assessment_round, organization):
    return Assessment.objects.filter(round=assessment_round, organization=organization).first()


def _check_setup(rating, setup):
    """Every problem of a set-up, by field; a rating whose weights do not add up to 100% is refused."""
    errors = {}
    try:
        rating.full_clean(exclude=["round", "organization", "created_by", "results", "report_text"])
    except ValidationError as error:
        errors.update(error.message_dict)
    if rating.opens_at and rating.closes_at and rating.closes_at <= rating.opens_at:
        errors.setdefault("closes_at", []).append(_("Voting must close after it opens."))
    questions = [q for q in setup.questions if str(q.get("text") or "").strip()]
    if not questions:
        errors.setdefault("questions", []).append(_("Ask at least one question."))
    if len(questions) > MAX_QUESTIONS:
        errors.setdefault("questions", []).append(_("At most %(count)d questions.") % {"count": MAX_QUESTIONS})
    for index, question in enumerate(questions, start=1):
        row = RatingQuestion(rating=rating, text=str(question["text"]).strip(), scale=question.get("scale"))
        try:
            row.full_clean(exclude=["rating"])
        except ValidationError as error:
            for messages in error.message_dict.values():
                errors.setdefault("questions", []).extend(
                    _("Question %(number)d: %(message)s") % {"number": index, "message": message}
                    for message in messages
                )
    audiences = [a for a in setup.audiences if a.get("kind")]
    if not audiences:
        errors.setdefault("audiences", []).append(_("Name at least one audience."))
    kinds = [a["kind"] for a in audiences]
    if len(set(kinds)) != len(kinds):
        errors.setdefault("audiences", []).append(_("Name each audience once."))
    total, voters = Decimal(0), 0
    for audience in audiences:
        row = RatingAudience(rating=rating, kind=audience["kind"], weight=audience.get("weight"))
        row.voters = audience.get("voters")
        try:
            row.full_clean(exclude=["rating"])
        except ValidationError as error:
            label = dict(AudienceKind.choices).get(audience["kind"], audience["kind"])
            for messages in error.message_dict.values():
                errors.setdefault("audiences", []).extend(f"{label}：{message}" for message in messages)
            continue
        total += Decimal(row.weight)
        voters += row.voters
    if audiences and "audiences" not in errors and total != HUNDRED:
        errors.setdefault("audiences", []).append(
            _("The weights add up to %(total)s%%: they must add up to 100%%.") % {"total": _plain(total)}
        )
    if voters > MAX_VOTERS:
        errors.setdefault("audiences", []).append(_("At most %(count)d voters in all.") % {"count": MAX_VOTERS})
    points = rating.grade_points or {}
    if set(points) != set(Grade.values) or not all(
        isinstance(value, int) and 0 <= value <= 100 for value in points.values()
    ):
        errors.setdefault("grade_points", []).append(_("Give each grade its points, whole numbers from 0 to 100."))
    return errors, questions, audiences


def _plain(number):
    return format(Decimal(number).normalize(), "f")


def rating_save(*, round, organization, setup, by, rating=None):  # noqa: A002 (the house's name for the round)
    """Set up a rating of `organization` in the round (or change one nobody has voted in yet). A reviewer (or admin)
    of the organization; the organization must be assessed in the round and its assessment not published."""
    access.require(by, access.REVIEW, organization)
    if rating is not None and (rating.round_id != round.pk or rating.organization_id != organization.pk):
        raise ValidationError(_("This rating belongs to another round or organization."))
    if round.state != RoundState.OPEN:
        raise ValidationError(_("The round is closed: its scores no longer change."))
    assessment = _assessment_of(round, organization)
    if assessment is None:
        raise ValidationError(_("%(name)s is not assessed in this round.") % {"name": organization.name})
    if assessment.state == AssessmentState.PUBLISHED:
        raise ValidationError(_("This assessment is published and locked: it can no longer change."))
    if rating is not None and (rating.state != RatingState.OPEN or rating.ballots.exists()):
        raise ValidationError(_("Votes have been cast: the rating can no longer be changed."))
    target = rating or Rating(round=round, organization=organization, grade_points=dict(DEFAULT_GRADE_POINTS))
    for name in ("kind", "title", "subject", "opens_at", "closes_at", "allow_comment", "grade_points"):
        if name in setup.data:
            setattr(target, name, setup.data[name])
    target.title = (target.title or "").strip()
    target.subject = (target.subject or "").strip()
    errors, questions, audiences = _check_setup(target, setup)
    if rating is None and Rating.objects.filter(round=round, organization=organization).exists():
        taken = _("%(name)s already has a rating in this round.") % {"name": organization.name}
        errors.setdefault("__all__", []).append(taken)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if rating is None:
            target.created_by = by if getattr(by, "pk", None) else None
        else:
            locked = Rating.objects.select_for_update().filter(pk=rating.pk, version=rating.version).first()
            if locked is None or locked.ballots.exists():
                raise ValidationError(_("Someone else has just changed this rating. Reload it to see what changed."))
            target.version = F("version") + 1
        try:
            with transaction.atomic():
                target.save()
        except IntegrityError:
            raise ValidationError(
                _("%(name)s already has a rating in this round.") % {"name": organization.name}
            ) from None
        target.refresh_from_db(fields=["version"])
        target.questions.all().delete()
        RatingQuestion.objects.bulk_create(
            RatingQuestion(rating=target, position=index, text=str(q["text"]).strip(), scale=q.get("scale"))
            for index, q in enumerate(questions)
        )
        kept = {audience.kind: audience for audience in target.audiences.all()}
        wanted = {a["kind"] for a in audiences}
        for kind, audience in kept.items():
            if kind not in wanted:
                audience.delete()  # its tickets go with it (nobody has voted yet)
        for values in audiences:
            audience = kept.get(values["kind"]) or RatingAudience(rating=target, kind=values["kind"])
            audience.weight, audience.voters = Decimal(values["weight"]), int(values["voters"])
            audience.save()
    return target


def report_save(*, rating, text, uploads=(), by):
    """The organization's 述职报告: its text and files, by its secretary (or an admin) while votes are collected."""
    access.require(by, access.EDIT, rating.organization)
    if rating.state != RatingState.OPEN:
        raise ValidationError(_("The rating is closed: the report can no longer change."))
    text = (text or "").strip()
    errors = {}
    if len(text) > MAX_REPORT:
        errors["report_text"] = [_("At most %(count)d characters.") % {"count": MAX_REPORT}]
    try:
        Rating._meta.get_field("report_text").run_validators(text)
    except ValidationError as error:
        errors["report_text"] = error.messages
    if errors:
        raise ValidationError(errors)
    for upload in uploads:
        branch_services.upload_check(rating.organization, upload, field="files")
    with branch_services.atomic_with_files():
        Rating.objects.filter(pk=rating.pk).update(report_text=text)
        audit.record_bulk(AuditEntry.Action.UPDATE, [(rating, {"report_text": [rating.report_text, text]})])
        for upload in uploads:
            attachment = branch_services.attachment_add(
                organization=rating.organization,
                title=(_("Report: %(title)s") % {"title": rating.title})[:120],
                upload=upload,
                by=by,
            )
            rating.report_files.add(attachment)
    rating.refresh_from_db()
    return rating


# ------------------------------------------------------------------------------------------------- tickets


@dataclass(frozen=True)
class IssuedTicket:
    audience: RatingAudience
    code: str  # plain: it exists here and on the sheet only

    @property
    def shown(self):
        return shown(self.code)


@dataclass
class Issue:
    rating: Rating
    batch: int
    tickets: list
    voided: int


def tickets_issue(*, rating, by, now=None):
    """Issue the rating's tickets: for each audience, as many as it has voters not yet voted and not holding a ticket
    in their inbox. The unspent printed tickets of earlier batches are voided (a sheet lost or printed twice is
    replaced whole). Returns the plain codes, which are not kept anywhere: make the sheet from them at once."""
    access.require(by, access.REVIEW, rating.organization)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_for_issuing(rating, now)
        audiences = list(
            locked.audiences.annotate(
                used=Count("tickets", filter=Q(tickets__spent=True)),
                in_inboxes=Count(
                    "tickets", filter=Q(tickets__by_inbox=True, tickets__spent=False, tickets__voided=False)
                ),
            ).order_by("pk")
        )
        batch = (locked.tickets.order_by("-batch").values_list("batch", flat=True).first() or 0) + 1
        voided = RatingTicket.objects.filter(rating=locked, spent=False, voided=False, by_inbox=False).update(
            voided=True
        )
        issued, rows = [], []
        for audience in audiences:
            for _index in range(max(0, audience.voters - audience.used - audience.in_inboxes)):
                code = new_code()
                issued.append(IssuedTicket(audience, code))
                rows.append(RatingTicket(rating=locked, audience=audience, code_hash=code_hash(code), batch=batch))
        random.SystemRandom().shuffle(rows)  # ids in an order that is not the sheet's
        RatingTicket.objects.bulk_create(rows, batch_size=2000)
        audit.record_summary(
            locked, AuditEntry.Action.UPDATE, {"tickets_issued": len(rows), "batch": batch, "voided": voided}
        )
    return Issue(locked, batch, issued, voided)


def _lock_for_issuing(rating, now):
    locked = Rating.objects.select_for_update().get(pk=rating.pk)
    if locked.state != RatingState.OPEN:
        raise ValidationError(_("The rating is closed: no more tickets can be issued."))
    if locked.closes_at <= now:
        raise ValidationError(_("Voting has ended: no more tickets can be issued."))
    return locked


# The audiences who are portal users, whose tickets can go to their inboxes: the superior committee's people and the
# secretaries of the peer organizations. Members and the public are not users: their tickets are printed.
INBOX_AUDIENCES = (AudienceKind.SUPERIOR, AudienceKind.PEERS)


def inbox_recipients(rating, audience):
    """The portal users of an audience: for the superior committee, everyone holding a role on the rated
    organization's parent; for the peers, the secretaries of its active sister organizations. Nobody for the
    others."""
    from django.contrib.auth import get_user_model

    from branches.models import Organization, OrganizationStatus, Role

    organization = rating.organization
    users = get_user_model().objects.filter(is_active=True)
    parent_path = organization.path[: -Organization.steplen]
    if audience.kind == AudienceKind.SUPERIOR and parent_path:
        users = users.filter(role_assignments__organization__path=parent_path)
    elif audience.kind == AudienceKind.PEERS and parent_path:
        users = users.filter(
            role_assignments__role=Role.SECRETARY,
            role_assignments__organization__path__startswith=parent_path,
            role_assignments__organization__depth=organization.depth,
            role_assignments__organization__status=OrganizationStatus.ACTIVE,
        ).exclude(role_assignments__organization=organization)
    else:
        return users.none()
    return users.distinct().order_by("pk")


def inbox_tickets_issue(*, rating, audience, count, by, now=None):
    """`count` tickets of an inbox audience, for the caller to put into as many inboxes at once (in its own
    transaction). They count against the audience's voters with its printed tickets still valid. Returns the plain
    codes, shuffled."""
    access.require(by, access.REVIEW, rating.organization)
    now = now or timezone.now()
    if audience.rating_id != rating.pk or audience.kind not in INBOX_AUDIENCES:
        raise ValidationError(_("Only the tickets of the superior committee and of peer organizations go to inboxes."))
    with transaction.atomic():
        locked = _lock_for_issuing(rating, now)
        valid = audience.tickets.filter(Q(spent=True) | Q(voided=False)).count()
        room = audience.voters - valid
        if count > room:
            raise ValidationError(
                _(
                    "This audience has %(voters)d voters and %(valid)d tickets already; %(count)d more do not fit. "
                    "Raise its number of voters first."
                )
                % {"voters": audience.voters, "valid": valid, "count": count}
            )
        codes = [new_code() for _index in range(count)]
        rows = [
            RatingTicket(rating=locked, audience=audience, code_hash=code_hash(code), batch=0, by_inbox=True)
            for code in codes
        ]
        random.SystemRandom().shuffle(rows)
        RatingTicket.objects.bulk_create(rows)
        audit.record_summary(locked, AuditEntry.Action.UPDATE, {"tickets_to_inboxes": count, "audience": audience.kind})
    random.SystemRandom().shuffle(codes)
    return codes


@dataclass
class Turnout:
    audience: RatingAudience
    tickets: int  # valid: spent, or unspent and not voided
    used: int
    in_inboxes: int = 0  # sent to portal users' inboxes, not used yet
    users: int | None = None  # for an inbox audience, its people who use the portal
    sent: int = 0  # sent to inboxes ever, used or not (one per person: the send skips those who have one)

    @property
    def share(self):
        return round(100 * self.used / self.tickets) if self.tickets else 0

    @property
    def to_issue(self):
        """Tickets an issue would print now: the voters who have not voted and hold no ticket in their inbox."""
        return max(0, self.audience.voters - self.used - self.in_inboxes)

    @property
    def to_send(self):
        """The audience's portal users still without a ticket in their inbox, as far as the tickets tell: a ticket
        names nobody, so this is the users less the tickets sent. None for an audience of no portal users."""
        return None if self.users is None else max(0, self.users - self.sent)


def turnout(rating, *, with_users=False):
    """Per audience, the tickets that count (spent, or unspent and not voided) and those used: one query; with
    `with_users`, one more per inbox audience, counting its portal users."""
    rows = rating.audiences.annotate(
        valid=Count("tickets", filter=Q(tickets__spent=True) | Q(tickets__voided=False)),
        used=Count("tickets", filter=Q(tickets__spent=True)),
        in_inboxes=Count("tickets", filter=Q(tickets__by_inbox=True, tickets__spent=False, tickets__voided=False)),
        sent=Count("tickets", filter=Q(tickets__by_inbox=True)),
    ).order_by("pk")
    return [
        Turnout(
            row,
            row.valid,
            row.used,
            row.in_inboxes,
            inbox_recipients(rating, row).count() if with_users and row.kind in INBOX_AUDIENCES else None,
            row.sent,
        )
        for row in rows
    ]


# ------------------------------------------------------------------------------------------------- votes

UNKNOWN, VOIDED, SPENT, NOT_YET, EXPIRED, CLOSED = "unknown", "voided", "spent", "not_yet", "expired", "closed"


def refusal(reason):
    """The voter's page's words for a ticket that cannot vote."""
    return {
        UNKNOWN: _("This code is not a valid ticket. Check the code on your ticket and type it again."),
        VOIDED: _("This ticket has been replaced by a new one and can no longer be used."),
        SPENT: _("This ticket has already been used: each ticket votes once."),
        NOT_YET: _("Voting has not started yet. Please come back when it opens."),
        EXPIRED: _("Voting has ended: this ticket can no longer be used."),
        CLOSED: _("This rating is closed: no more votes are taken."),
    }[reason]


class TicketRefused(ValidationError):
    def __init__(self, reason):
        self.reason = reason
        super().__init__(refusal(reason), code=reason)


def ticket_for(code, now=None):
    """The ticket of a typed code, with its rating and audience, if it may vote now; TicketRefused otherwise."""
    now = now or timezone.now()
    plain = normalized(code)
    found = RatingTicket.objects.select_related("rating__organization", "audience")
    ticket = found.filter(code_hash=code_hash(plain)).first() if plain else None
    if ticket is None:
        raise TicketRefused(UNKNOWN)
    rating = ticket.rating
    if rating.state != RatingState.OPEN:
        raise TicketRefused(CLOSED)
    if ticket.spent:
        raise TicketRefused(SPENT)
    if ticket.voided:
        raise TicketRefused(VOIDED)
    if now < rating.opens_at:
        raise TicketRefused(NOT_YET)
    if now >= rating.closes_at:
        raise TicketRefused(EXPIRED)
    return ticket


def _check_answers(rating, questions, answers, comment):
    errors, clean = {}, {}
    for question in questions:
        value = str(answers.get(str(question.pk)) or "").strip()
        if not value:
            errors[f"q{question.pk}"] = [_("Answer this question.")]
        elif rating.points_of(question.scale, value) is None:
            errors[f"q{question.pk}"] = [_("Choose one of the answers offered.")]
        else:
            clean[str(question.pk)] = value
    comment = (comment or "").strip()
    if comment and not rating.allow_comment:
        comment = ""
    if len(comment) > MAX_COMMENT:
        errors["comment"] = [_("At most %(count)d characters.") % {"count": MAX_COMMENT}]
    elif UNSTORABLE.search(comment):  # the ballot is created without the model's validators, which would log the text
        errors["comment"] = [_("This text holds a character that cannot be stored (a NUL byte or a broken character).")]
    elif comment and MARKUP.search(comment):
        # Recorded without the text, the code or the page: a refusal must not tell who wrote what.
        audit.record_refusal(SecurityEventKind.MARKUP_REFUSED, organization_id=rating.organization_id, detail="rating")
        errors["comment"] = [_("HTML tags and scripts are not allowed here; please enter plain text.")]
    return errors, clean, comment


def _hold_open(rating_id):
    """Inside the vote's transaction: the rating is still collecting votes, and stays so until the vote commits (a
    shared lock: votes do not wait for each other; closing waits for the votes under way, and the votes after it
    find the rating closed)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {Rating._meta.db_table} WHERE id = %s AND state = %s FOR SHARE",  # noqa: S608
                [rating_id, RatingState.OPEN],
            )
            return cursor.fetchone() is not None
    return Rating.objects.filter(pk=rating_id, state=RatingState.OPEN).exists()  # SQLite: one writer at a time


def ballot_cast(*, code, answers, comment="", now=None):
    """A vote: the ticket spent and the ballot stored, in one transaction, or nothing at all.

    Refused (TicketRefused) for an unknown, voided, spent, expired or closed ticket; refused by field
    (ValidationError) for a question not answered, an answer the scale does not offer, markup or an overlong
    comment. Under concurrent submits of the same ticket exactly one counts."""
    ticket = ticket_for(code, now)
    rating = ticket.rating
    questions = list(rating.questions.all())
    errors, clean, comment = _check_answers(rating, questions, answers, comment)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if not _hold_open(rating.pk):
            raise TicketRefused(CLOSED)
        spent = RatingTicket.objects.filter(pk=ticket.pk, spent=False, voided=False).update(spent=True)
        if spent != 1:
            raise TicketRefused(SPENT)
        RatingBallot.objects.create(rating_id=rating.pk, audience_id=ticket.audience_id, answers=clean, comment=comment)
    return rating


# ------------------------------------------------------------------------------------------------- throttling


def _rate(text):
    number, _slash, unit = text.partition("/")
    return int(number), {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}[unit]


def throttled(kind, key, rate):
    """Count one request of `kind` from `key` against `rate` ("N/min"); seconds to wait when over it, else 0.
    A fixed window in the shared cache (Redis when there is one), so every web worker counts together."""
    allowed, window = _rate(rate)
    cache = caches["ratings_throttle"]
    now = int(time.time())
    start = now - now % window
    name = f"rating:{kind}:{key}:{start}"
    if cache.add(name, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(name)
        except ValueError:  # expired between the two calls
            cache.add(name, 1, timeout=window + 1)
            count = 1
    return (start + window - now) if count > allowed else 0


def ticket_key(code):
    """The throttle's key for a typed code: its hash, never the code."""
    return code_hash(normalized(code) or str(code)[:40])[:32]


def address_rate():
    return settings.RATING_RATE_ADDRESS


def ticket_rate():
    return settings.RATING_RATE_TICKET


# ------------------------------------------------------------------------------------------------- results


def _mix(rating):
    """Rewrite the rating's ballots (new random ids, shuffled order) and tickets in this transaction: afterwards
    every row carries the same transaction and the order of the votes is gone from the tables."""
    ballots = list(RatingBallot.objects.filter(rating=rating).values("audience_id", "answers", "comment"))
    random.SystemRandom().shuffle(ballots)
    RatingBallot.objects.filter(rating=rating).delete()
    RatingBallot.objects.bulk_create([RatingBallot(rating=rating, **values) for values in ballots], batch_size=2000)
    RatingTicket.objects.filter(rating=rating).update(spent=F("spent"))


def _mean(numbers):
    return str((Decimal(sum(numbers)) / len(numbers)).quantize(SCORE, ROUND_HALF_UP)) if numbers else None


def _percent(part, whole):
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(Decimal(1), ROUND_HALF_UP) if whole else Decimal(0)


def results_of(rating):
    """The rating's results from its ballots (plain JSON): per audience its tickets, turnout, answers per question
    and score; the weighted score and share; the comments; the "why"."""
    questions = list(rating.questions.all())
    seen = {row.audience.pk: row for row in turnout(rating)}
    ballots = list(RatingBallot.objects.filter(rating=rating).values_list("audience_id", "answers", "comment"))
    audiences, grades, fives, comments = [], dict.fromkeys(Grade.values, 0), [], []
    weighted, weights = Decimal(0), Decimal(0)
    for audience_id, row in seen.items():
        audience = row.audience
        own = [answers for aid, answers, _c in ballots if aid == audience_id]
        per_question, points = [], []
        for question in questions:
            counts = {value: 0 for value, _label in question.choices}
            for answers in own:
                value = answers.get(str(question.pk))
                if value in counts:
                    counts[value] += 1
                    points.append(Decimal(rating.points_of(question.scale, value)))
                    if question.scale == Scale.GRADES:
                        grades[value] += 1
                    else:
                        fives.append(int(value))
            per_question.append({"question": question.text, "scale": question.scale, "counts": counts})
        score = (sum(points) / len(points)).quantize(SCORE, ROUND_HALF_UP) if points else None
        if score is not None:
            weighted += Decimal(audience.weight) * sum(points) / len(points)
            weights += Decimal(audience.weight)
        audiences.append(
            {
                "kind": audience.kind,
                "weight": _plain(audience.weight),
                "tickets": row.tickets,
                "used": row.used,
                "score": None if score is None else str(score),
                "questions": per_question,
            }
        )
    comments = sorted(comment for _a, _answers, comment in ballots if comment)
    total = (weighted / weights).quantize(SCORE, ROUND_HALF_UP) if weights else None
    tickets = sum(row.tickets for row in seen.values())
    used = sum(row.used for row in seen.values())
    return {
        "tickets": tickets,
        "used": used,
        "audiences": audiences,
        "score": None if total is None else str(total),
        "share": None if total is None else str((total / HUNDRED).quantize(SHARE)),
        "grades": grades,
        "fives": {"count": len(fives), "mean": _mean(fives)},
        "left_out": [a["kind"] for a in audiences if a["score"] is None],
        "comments": comments,
    }


def why(results):
    """One Chinese sentence: "87 of 120 tickets used; 好 62%, 较好 30% …; weighted score 86.50" (from `results`)."""
    parts = [_("%(used)d of %(tickets)d tickets used") % {"used": results["used"], "tickets": results["tickets"]}]
    graded = sum(results["grades"].values())
    if graded:
        labels = dict(Grade.choices)
        parts.append(
            "，".join(f"{labels[value]} {_percent(count, graded)}%" for value, count in results["grades"].items())
        )
    if results["fives"]["count"]:
        parts.append(_("1–5 answers average %(mean)s") % {"mean": results["fives"]["mean"]})
    if results["left_out"]:
        labels = dict(AudienceKind.choices)
        parts.append(
            _("no vote from %(audiences)s: its weight shared among the others")
            % {"audiences": "、".join(str(labels[kind]) for kind in results["left_out"])}
        )
    if results["score"] is not None:
        parts.append(_("weighted score %(score)s") % {"score": results["score"]})
    return "；".join(str(part) for part in parts)


def _lock_open(rating, state):
    locked = Rating.objects.select_for_update().filter(pk=rating.pk).first()
    if locked is None or locked.state != state:
        raise ValidationError(_("Someone else has just changed this rating. Reload it to see what changed."))
    return locked


def rating_close(*, rating, by, now=None):
    """Close the rating: no vote counts after it. Its results are computed and frozen, and its ballots and tickets
    mixed (`_mix`). A reviewer (or admin) of the organization."""
    access.require(by, access.REVIEW, rating.organization)
    if rating.state != RatingState.OPEN:
        raise ValidationError(_("The rating is already closed."))
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_open(rating, RatingState.OPEN)  # waits for the votes under way
        _mix(locked)
        results = results_of(locked)
        results["why"] = why(results)
        Rating.objects.filter(pk=locked.pk).update(
            state=RatingState.CLOSED, closed_at=now, results=results, version=F("version") + 1
        )
        audit.record_bulk(AuditEntry.Action.UPDATE, [(locked, {"state": [RatingState.OPEN, RatingState.CLOSED]})])
    return Rating.objects.get(pk=rating.pk)


def rating_publish(*, rating, by, now=None):
    """Publish a closed rating: its score becomes the organization's survey result of the round (the survey
    indicator's input, with its "why"), and the organization sees its result. Refused once the assessment is
    published, or when nobody voted."""
    access.require(by, access.REVIEW, rating.organization)
    if rating.state != RatingState.CLOSED:
        raise ValidationError(_("Close the rating before publishing its results."))
    results = rating.results or {}
    if results.get("share") is None:
        raise ValidationError(_("Nobody has voted: there is no result to publish."))
    assessment = _assessment_of(rating.round, rating.organization)
    if assessment is None or assessment.state == AssessmentState.PUBLISHED:
        raise ValidationError(_("This assessment is published and locked: it can no longer change."))
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_open(rating, RatingState.CLOSED)
        row = surveys.SurveyRow(
            0,
            locked.organization.code,
            locked.organization_id,
            locked.organization.name,
            results["used"],
            Decimal(results["share"]),
            note=str(results.get("why", ""))[:500],
        )
        surveys._write(locked.round, [row], by)
        Rating.objects.filter(pk=locked.pk).update(
            state=RatingState.PUBLISHED, published_at=now, version=F("version") + 1
        )
        audit.record_bulk(AuditEntry.Action.UPDATE, [(locked, {"state": [RatingState.CLOSED, RatingState.PUBLISHED]})])
    return Rating.objects.get(pk=rating.pk)


# ------------------------------------------------------------------------------------------------- reads


@dataclass
class RatingRow:
    rating: Rating
    tickets: int
    used: int
    bottom: bool = False  # the lowest score of the round's closed ratings (末位): called for a talk (约谈)

    @property
    def score(self):
        value = (self.rating.results or {}).get("score")
        return Decimal(value) if value is not None else None


def round_ratings(user, assessment_round):
    """The round's ratings the user judges (reviews or assesses), in tree order, with their turnout: one query.
    The lowest score among those with results is flagged 末位 (ties too), once two or more have results."""
    from assessments.selectors import JUDGES, _either

    rows = (
        Rating.objects.filter(round=assessment_round)
        .filter(_either(user, JUDGES, "organization"))
        .select_related("organization")
        .annotate(
            valid=Count("tickets", filter=Q(tickets__spent=True) | Q(tickets__voided=False)),
            used=Count("tickets", filter=Q(tickets__spent=True)),
        )
        .order_by("organization__path", "pk")
    )
    found = [RatingRow(rating, rating.valid, rating.used) for rating in rows]
    scored = [row.score for row in found if row.rating.state != RatingState.OPEN and row.score is not None]
    if len(scored) >= 2:
        lowest = min(scored)
        for row in found:
            row.bottom = row.rating.state != RatingState.OPEN and row.score == lowest
    return found


def sees_results(user, rating):
    """Results exist once the rating is closed: its reviewers and assessors see them then; the organization (its
    secretary) once they are published."""
    if rating.state == RatingState.OPEN:
        return False
    if access.can(user, access.REVIEW, rating.organization) or access.can(user, access.ASSESS, rating.organization):
        return True
    return rating.state == RatingState.PUBLISHED
