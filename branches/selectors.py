"""Reads for organizations and people: scoped, set-based, a fixed number of queries."""

import posixpath
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    DateTimeField,
    DecimalField,
    FileField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from branches import access
from branches.models import (
    COMMITTEE_POSTS,
    Attachment,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    IntegritySignal,
    IntegritySignalKind,
    IntegritySignalRun,
    Meeting,
    MeetingType,
    Member,
    MemberCategory,
    MemberStatus,
    MonthSummary,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Post,
    RoleAssignment,
    SecurityEvent,
    TermLengthRule,
    TrainingRecord,
    audit_organization_id,
)

DEFAULT_TERM_YEARS = 3


def term_length_years(kind, sector):
    """The committee term for a kind and sector: the sector's own rule first, then the kind's."""
    rules = {r.sector: r.years for r in TermLengthRule.objects.filter(kind=kind, sector__in=[sector, ""])}
    return rules.get(sector) or rules.get("") or DEFAULT_TERM_YEARS


def active_member_count(organization):
    return Member.objects.filter(organization=organization, status=MemberStatus.ACTIVE).count()


def _direct_member_count():
    """Active members of a branch (or of a party group), as a subquery on the organization row."""

    def count(field):
        rows = (
            Member.objects.filter(**{field: OuterRef("pk")}, status=MemberStatus.ACTIVE)
            .order_by()
            .values(field)
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), 0)

    return Case(
        When(kind=OrganizationKind.PARTY_GROUP, then=count("party_group")),
        default=count("organization"),
        output_field=IntegerField(),
    )


def with_member_counts(queryset):
    return queryset.annotate(member_count=_direct_member_count())


def tree_roots(user):
    """The top organizations of the user's scope, for the tree browser."""
    if access.is_everywhere(user):
        roots = Organization.objects.filter(depth=1)
    else:
        roots = Organization.objects.filter(path__in=access.root_paths(user))
    return with_member_counts(roots.order_by("path"))


def children_of(organization):
    """Direct sub-organizations (party groups included), in tree order."""
    return with_member_counts(
        Organization.objects.filter(path__startswith=organization.path, depth=organization.depth + 1).order_by("path")
    )


def visible_ancestors(user, organization, action=access.VIEW):
    """Ancestors the user may see (or do `action` on), root first, for breadcrumbs (one query)."""
    paths = organization.ancestor_paths()
    if not paths:
        return []
    return list(access.scoped(user, Organization.objects.filter(path__in=paths), action).order_by("depth"))


def search_organizations(user, text):
    """Scoped organizations whose name contains, or whose code starts with, the text."""
    text = (text or "").strip()
    queryset = access.scoped(user, Organization.objects.all())
    if text:
        queryset = queryset.filter(Q(name__icontains=text) | Q(code__istartswith=text))
    return with_member_counts(queryset.order_by("path"))


def ancestor_names(organizations):
    """Map path -> name for every ancestor of the given organizations (one query)."""
    paths = {p for org in organizations for p in org.ancestor_paths()}
    if not paths:
        return {}
    return dict(Organization.objects.filter(path__in=paths).values_list("path", "name"))


@dataclass
class MemberCounts:
    full: int = 0
    probationary: int = 0

    @property
    def total(self):
        return self.full + self.probationary


def member_counts(organization, *, sector=""):
    """Active members in the organization's subtree (of its branches of one sector, if given), by category: one
    query, the members joined to their branch by the path prefix."""
    rows = Member.objects.filter(organization__path__startswith=organization.path, status=MemberStatus.ACTIVE)
    if sector:
        rows = rows.filter(organization__sector=sector)
    rows = rows.values("category").annotate(n=Count("pk")).order_by()
    counts = MemberCounts()
    for row in rows:
        if row["category"] == MemberCategory.FULL:
            counts.full = row["n"]
        elif row["category"] == MemberCategory.PROBATIONARY:
            counts.probationary = row["n"]
    return counts


def subtree_kind_counts(organization):
    """Active organizations under this one, by kind (one query)."""
    by_kind = subtree_kind_totals(organization)
    return [(kind.label, by_kind[kind.value]) for kind in OrganizationKind if by_kind.get(kind.value)]


def subtree_kind_totals(organization, *, include_self=False, sector="", kind=""):
    """{kind: how many} of the active organizations under this one (and itself, if asked), of one sector and kind if
    given: one query on the path prefix."""
    rows = Organization.objects.filter(path__startswith=organization.path, status=OrganizationStatus.ACTIVE)
    if not include_self:
        rows = rows.filter(depth__gt=organization.depth)
    if sector:
        rows = rows.filter(sector=sector)
    if kind:
        rows = rows.filter(kind=kind)
    return dict(rows.values_list("kind").annotate(n=Count("pk")).order_by())


def current_cadres(organization, today=None):
    today = today or timezone.localdate()
    return (
        Cadre.objects.filter(organization=organization, term_start__lte=today)
        .filter(Q(term_end__isnull=True) | Q(term_end__gte=today))
        .annotate(training_hours=_training_hours(), post_rank=_post_rank())
        .order_by("post_rank", "term_start", "pk")
    )


def _training_hours():
    hours = (
        TrainingRecord.objects.filter(cadre=OuterRef("pk"))
        .order_by()
        .values("cadre")
        .annotate(h=Sum("hours"))
        .values("h")
    )
    decimal = DecimalField(max_digits=8, decimal_places=1)
    return Coalesce(Subquery(hours, output_field=decimal), Value(Decimal("0")), output_field=decimal)


def _post_rank():
    """Posts in protocol order: secretary first, then deputy, committee members, staff."""
    return Case(*(When(post=post, then=rank) for rank, post in enumerate(Post)), output_field=IntegerField())


def past_cadres(organization, today=None, limit=20):
    today = today or timezone.localdate()
    return Cadre.objects.filter(organization=organization, term_end__lt=today).order_by("-term_end", "pk")[:limit]


def committee_size(cadres):
    return sum(1 for cadre in cadres if cadre.post in COMMITTEE_POSTS)


def open_committee_term(organization):
    return CommitteeTerm.objects.filter(organization=organization, ended_on__isnull=True).first()


def members_of(user, organization, text="", include_former=False):
    """The members of one branch, scoped, with an optional name search."""
    queryset = access.scoped(user, Member.objects.filter(organization=organization)).select_related("party_group")
    if not include_former:
        queryset = queryset.filter(status=MemberStatus.ACTIVE)
    if text:
        queryset = queryset.filter(name__icontains=text.strip())
    return queryset.order_by("party_group__path", "name", "pk")


# --- history ---------------------------------------------------------------------------

# Keys our services record beside the model's fields (a move's new parent, a meeting's attendance).
FIELD_LABELS_OUTSIDE_MODELS = {"parent": _("parent organization"), "attendance": _("attendance")}
NOTHING = "—"
# A stored file is shown by the name it was uploaded under, kept beside it in this field.
ORIGINAL_NAME = "original_name"


@dataclass(frozen=True)
class RecordHistory:
    """One record's history page: what the record is, where it belongs, and its entries the reader may see."""

    kind: str
    name: str
    organization: Organization | None
    entries: object  # a queryset of AuditEntry, newest first


def history_in_subtree(organization):
    """Audit entries of every record in the organization's subtree, newest first (scope checked by the caller)."""
    return (
        AuditEntry.objects.filter(organization__path__startswith=organization.path)
        .select_related("actor", "content_type", "organization")
        .order_by("-timestamp", "-pk")
    )


def _history_scope(user):
    """Entries the user may review: those of organizations in their review scope, and, for an admin of a whole
    tree, those of records that belong to no organization (users, rules, schedules)."""
    if access.is_everywhere(user):
        return Q()
    scope = access.organization_q(user, access.REVIEW, via="organization")
    if access.administers_rules(user):
        scope |= Q(organization__isnull=True)
    return scope


def history_of_object(user, content_type, object_pk) -> RecordHistory | None:
    """One record's history (deleted records too), or None when the user may not review it.

    The record opens when the user may review an entry of it, or, for a record that exists, its organization
    (resolved per kind of record: `audit_organization_id`). A record loaded in bulk has no entry yet; its page
    says so instead of answering 404.
    """
    entries = (
        AuditEntry.objects.filter(content_type=content_type, object_pk=str(object_pk))
        .filter(_history_scope(user))
        .select_related("actor", "content_type", "organization")
        .order_by("-timestamp", "-pk")
    )
    record = _audited_record(content_type, object_pk)
    if record is not None:
        organization_id = audit_organization_id(record)
        organization = Organization.objects.filter(pk=organization_id).first() if organization_id else None
        if access.can(user, access.REVIEW, organization) if organization else access.administers_rules(user):
            return RecordHistory(record._meta.verbose_name, str(record), organization, entries)
    latest = entries.first()
    if latest is None:
        return None
    return RecordHistory(content_type.name, latest.object_repr, latest.organization, entries)


def _audited_record(content_type, object_pk):
    model = content_type.model_class()
    if model is None or not auditlog.contains(model):
        return None
    try:
        return model._base_manager.filter(pk=model._meta.pk.to_python(object_pk)).first()
    except (ValidationError, ValueError, TypeError):
        return None


def history_rows(entries):
    """[(entry, [(field label, before, after)])] as people read them, in the active language.

    Choices show their labels, references the name of the record they point to, files the name they were
    uploaded under, yes/no for booleans and a dash for nothing. Set-based: the names of every record the
    entries point to are read in one query per kind of record, plus one for records since deleted.
    """
    changed = [(entry, list(_changed_fields(entry))) for entry in entries]
    wanted = {}
    for _entry, fields in changed:
        for _label, field, before, after, _changes in fields:
            if field is not None and field.is_relation:
                wanted.setdefault(field.related_model, set()).update(v for v in (before, after) if not _is_nothing(v))
    names = _record_names(wanted)
    return [
        (
            entry,
            [
                (label, _shown(field, before, 0, changes, names), _shown(field, after, 1, changes, names))
                for label, field, before, after, changes in fields
            ],
        )
        for entry, fields in changed
    ]


def display_changes(entry):
    """[(field label, before, after)] for one entry (see `history_rows`)."""
    return history_rows([entry])[0][1]


def _changed_fields(entry):
    """(label, model field or None, before, after, all changes) for each change worth showing."""
    model = entry.content_type.model_class()
    changes = entry.changes_dict or {}
    written_by_us = bool((entry.additional_data or {}).get("bulk"))
    has_file = any(isinstance(_field_or_none(model, name), FileField) for name in changes)
    for name, values in changes.items():
        before, after = (list(values) + [None, None])[:2]
        field = _field_or_none(model, name)
        if field is None:
            yield FIELD_LABELS_OUTSIDE_MODELS.get(name, name), None, before, after, changes
        elif not field.concrete:
            # auditlog lists reverse relations on creation ("branches.Attendance.None"): noise. Our services
            # write real values under some of those names (a meeting's attendance).
            if written_by_us and name in FIELD_LABELS_OUTSIDE_MODELS:
                yield FIELD_LABELS_OUTSIDE_MODELS[name], None, before, after, changes
        elif field.primary_key or (name == ORIGINAL_NAME and has_file):
            continue  # an internal number; the original name is shown as the file's
        else:
            yield field.verbose_name, field, before, after, changes


def _field_or_none(model, name):
    try:
        return model._meta.get_field(name) if model is not None else None
    except FieldDoesNotExist:  # a key that is not a field, e.g. "parent" of a move
        return None


def _is_nothing(value):
    return value is None or value in ("None", "")


def _shown(field, value, side, changes, names):
    if _is_nothing(value):
        return NOTHING
    if field is None:
        return str(value)
    if field.choices:
        labels = {str(key): label for key, label in field.flatchoices}
        return str(labels.get(str(value), value))
    if isinstance(field, BooleanField):
        return str(_("yes") if value in (True, "True", "true", 1, "1") else _("no"))
    if field.is_relation:
        return names.get((field.related_model, str(value))) or str(
            _("%(name)s (deleted)") % {"name": field.related_model._meta.verbose_name}
        )
    if isinstance(field, FileField):
        original = (list(changes.get(ORIGINAL_NAME) or []) + [None, None])[side]
        return str(original) if not _is_nothing(original) else posixpath.basename(str(value))
    if isinstance(field, DateTimeField):
        moment = parse_datetime(str(value))
        if moment is not None:
            moment = moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
            return formats.localize(timezone.localtime(moment))
    elif isinstance(field, DateField):
        day = parse_date(str(value)[:10])
        if day is not None:
            return formats.localize(day)
    return str(value)


def _record_names(wanted):
    """{(model, pk as text): name} for the records entries point to: one query per model, and one more
    for the names of records since deleted, as the trail last knew them."""
    names = {}
    missing = {}
    for model, values in wanted.items():
        pks = set()
        for value in values:
            try:
                pks.add(model._meta.pk.to_python(value))
            except (ValidationError, ValueError, TypeError):
                continue
        relations = [f.name for f in model._meta.concrete_fields if f.is_relation]
        found = model._base_manager.filter(pk__in=pks).select_related(*relations) if pks else []
        for obj in found:
            names[(model, str(obj.pk))] = _record_name(obj)
        missing[model] = {str(pk) for pk in pks} - {pk for m, pk in names if m is model}
    gone = Q(pk__in=[])
    models_by_type = {}
    for model, pks in missing.items():
        if pks:
            type_id = ContentType.objects.get_for_model(model).pk
            models_by_type[type_id] = model
            gone |= Q(content_type_id=type_id, object_pk__in=pks)
    if models_by_type:
        rows = AuditEntry.objects.filter(gone).order_by("timestamp", "pk")
        for type_id, pk, text in rows.values_list("content_type_id", "object_pk", "object_repr"):
            names[(models_by_type[type_id], pk)] = _("%(name)s (deleted)") % {"name": text}
    return names


def _record_name(obj):
    if isinstance(obj, get_user_model()):
        return obj.get_full_name() or obj.get_username()
    return str(obj)


def security_events_in_subtree(user, organization):
    events = SecurityEvent.objects.filter(organization__path__startswith=organization.path)
    if access.administers_rules(user):
        events = SecurityEvent.objects.filter(
            Q(organization__path__startswith=organization.path) | Q(organization__isnull=True)
        )
    return events.select_related("user", "organization").order_by("-at", "-pk")


def attachments_of(organization):
    return Attachment.objects.filter(organization=organization).select_related("uploaded_by")


# --- meetings --------------------------------------------------------------------------


def members_on(organization, day, party_group=None):
    """Members expected at a meeting held that day: in the branch (or group) then, probationary included."""
    members = Member.objects.filter(organization=organization, joined_branch_on__lte=day).filter(
        Q(left_on__isnull=True) | Q(left_on__gt=day)
    )
    if party_group is not None:
        members = members.filter(party_group=party_group)
    return members.order_by("party_group__path", "name", "pk")


def expected_on(organization, day, meeting_type, party_group=None):
    """Members expected at a meeting of this type held that day, as the facts stood then: the committee's
    members at a 支委会, the group's members at a 党小组会, every member of the branch at the rest."""
    if meeting_type == MeetingType.COMMITTEE_MEETING:
        committee = committee_members_on(organization, day).filter(member__isnull=False).values("member_id")
        return members_on(organization, day).filter(pk__in=committee)
    if meeting_type == MeetingType.GROUP_MEETING and party_group is not None:
        return members_on(organization, day, party_group)
    return members_on(organization, day)


def party_groups_of(branch):
    return Organization.objects.filter(
        path__startswith=branch.path, depth=branch.depth + 1, kind=OrganizationKind.PARTY_GROUP
    ).order_by("path")


def committee_members_on(organization, day):
    return Cadre.objects.filter(organization=organization, post__in=COMMITTEE_POSTS, term_start__lte=day).filter(
        Q(term_end__isnull=True) | Q(term_end__gte=day)
    )


def meetings_of(user, organization, *, meeting_type="", span=None, text=""):
    meetings = access.scoped(user, Meeting.objects.filter(organization=organization))
    if meeting_type:
        meetings = meetings.filter(meeting_type=meeting_type)
    if span is not None:
        meetings = meetings.filter(held_on__range=(span.start, span.end))
    if text.strip():
        meetings = meetings.filter(Q(topic__icontains=text.strip()) | Q(minutes__icontains=text.strip()))
    return meetings.select_related("party_group").order_by("-held_at", "-pk")


def meetings_counted_towards(*, organization, meeting_type, first_day, last_day):
    """How many meetings of a type the organization held in the months from `first_day` to `last_day`, counted
    as a requirement counts them: each party group once (a rule per group asks each group for its meeting).
    Read from the month summaries. The arguments may be outer references: the result is a one-value queryset
    to use as a subquery."""
    return (
        MonthSummary.objects.filter(
            organization=organization, meeting_type=meeting_type, month__gte=first_day, month__lte=last_day, held__gt=0
        )
        .order_by()
        .values("organization")
        .annotate(
            n=Coalesce(Sum("held", filter=Q(party_group=0)), 0)
            + Count("party_group", distinct=True, filter=Q(party_group__gt=0))
        )
        .values("n")
    )


def compliance_candidates(user, root, span, *, sector="", kind=OrganizationKind.BRANCH):
    """Organizations of the subtree that existed during the span, in tree order (one query)."""
    return list(compliance_candidates_queryset(user, root, span, sector=sector, kind=kind))


def compliance_candidates_queryset(user, root, span, *, sector="", kind=OrganizationKind.BRANCH):
    """The same, as a queryset to page through (the API pages by cursor)."""
    organizations = access.scoped(user, Organization.objects.filter(path__startswith=root.path))
    organizations = organizations.filter(Q(founded_on__isnull=True) | Q(founded_on__lte=span.end)).filter(
        Q(dissolved_on__isnull=True) | Q(dissolved_on__gte=span.start)
    )
    if kind:
        organizations = organizations.filter(kind=kind)
    if sector:
        organizations = organizations.filter(sector=sector)
    return organizations.order_by("path")


# Reads for the scheduled jobs: whole-tree, set-based, no user in scope (the job acts for the system;
# who receives what is decided by role assignments).


def active_organizations():
    """Every active organization, with what compliance judging needs (a list, in tree order)."""
    return list(
        Organization.objects.filter(status=OrganizationStatus.ACTIVE)
        .only("pk", "path", "depth", "kind", "sector", "name", "status", "founded_on", "dissolved_on")
        .order_by("path")
    )


def active_organization_names():
    """{organization id: (path, name)} of every active organization (what the reminder job places and names them
    by), one query."""
    rows = Organization.objects.filter(status=OrganizationStatus.ACTIVE).values_list("pk", "path", "name")
    return {pk: (path, name) for pk, path, name in rows.order_by()}


def role_holders(role):
    """(user id, organization id, organization path) for each active user holding `role`, one query."""
    return list(
        RoleAssignment.objects.filter(role=role, user__is_active=True).values_list(
            "user_id", "organization_id", "organization__path"
        )
    )


def open_terms():
    """Committee terms still running (no election held yet)."""
    return CommitteeTerm.objects.filter(ended_on__isnull=True, organization__status=OrganizationStatus.ACTIVE)


def terms_electing_between(first_day, last_day):
    """Running terms whose next election falls in the range: (id, organization id, name, election day)."""
    return list(
        open_terms()
        .filter(expected_election_on__range=(first_day, last_day))
        .values_list("pk", "organization_id", "organization__name", "expected_election_on")
    )


def subtree_rollup(*, node, first_month, last_month):
    """The month summaries of every organization under `node` (itself included) added up per meeting type over the
    months from `first_month` to `last_month`: one indexed query (the tree path prefix), whatever the subtree's size.
    {meeting type: {held, expected, present, logged_late, logged_last_two_weeks}}."""
    rows = (
        MonthSummary.objects.filter(organization__path__startswith=node.path, month__range=(first_month, last_month))
        .values("meeting_type")
        .annotate(**{name: Sum(name) for name in MonthSummary.FIGURES})
        .order_by()
    )
    return {row.pop("meeting_type"): row for row in rows}


# ----------------------------------------------------------------------------------------------- integrity signals


def integrity_signal_counts(node, year) -> list[tuple[IntegritySignalKind, int]]:
    """[(kind, organizations of the subtree flagged)] for the year, every kind (0 included), in one query."""
    counts = dict(
        IntegritySignal.objects.filter(year=year, organization__path__startswith=node.path)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return [(kind, counts.get(kind.value, 0)) for kind in IntegritySignalKind]


# A run still "running" after this long was cut short (the worker stopped): it is shown as not finished.
SIGNAL_RUN_GRACE = timedelta(hours=6)


@dataclass(frozen=True)
class SignalRuns:
    latest: IntegritySignalRun | None  # the last run of the year covering the node; None: never computed
    done: IntegritySignalRun | None  # the last one that finished, which the rows shown come from

    @property
    def state(self):
        """One of pending (never computed), ok, running, or failed (failed, or cut short)."""
        if self.latest is None:
            return "pending"
        if self.latest.state == IntegritySignalRun.State.RUNNING:
            cut_short = self.latest.started_at < timezone.now() - SIGNAL_RUN_GRACE
            return "failed" if cut_short else "running"
        return self.latest.state


def integrity_signal_runs_of(node, year) -> SignalRuns:
    """The runs behind the node's signals of the year: those of the whole tree or of a subtree holding the node. One
    query when the last run finished well (or there is none), two otherwise."""
    covering = IntegritySignalRun.objects.filter(year=year).filter(
        Q(organization=None) | Q(organization__path__in=[*node.ancestor_paths(), node.path])
    )
    latest = covering.order_by("-started_at", "-pk").first()
    if latest is None or latest.state == IntegritySignalRun.State.OK:
        return SignalRuns(latest, latest)
    done = covering.filter(state=IntegritySignalRun.State.OK).order_by("-started_at", "-pk").first()
    return SignalRuns(latest, done)


def integrity_signal_runs_recent(limit=10):
    """The last runs, newest first, for the jobs page."""
    return list(IntegritySignalRun.objects.select_related("organization").order_by("-started_at", "-pk")[:limit])


def integrity_signals_computed(year) -> bool:
    """Whether the whole tree's signals of the year were computed, or are being computed."""
    running = Q(state=IntegritySignalRun.State.RUNNING, started_at__gte=timezone.now() - SIGNAL_RUN_GRACE)
    return (
        IntegritySignalRun.objects.filter(year=year, organization=None)
        .filter(Q(state=IntegritySignalRun.State.OK) | running)
        .exists()
    )


def integrity_signals_of(node, year, kind=""):
    """The signals of the subtree's organizations for the year (of one kind, when given), kind by kind in the tree's
    order, each with its organization."""
    rows = IntegritySignal.objects.filter(year=year, organization__path__startswith=node.path)
    if kind:
        rows = rows.filter(kind=kind)
    return rows.select_related("organization").order_by("kind", "organization__path", "pk")


@dataclass(frozen=True)
class SignalPair:
    meeting: Meeting
    other: Meeting | None  # None: deleted since the signal was computed
    similarity: Decimal


def integrity_signal_records(user, signals):
    """For each of a page of signals, the records behind it: [(signal, [meeting], [SignalPair])], every meeting
    (and, for similar minutes, the other one and its organization) read in one query. A meeting deleted since the
    job ran is left out; `other.visible` says whether the user may open the other meeting."""
    wanted = set()
    for signal in signals:
        wanted.update(signal.meetings)
        wanted.update(other for _mine, other, _org, _score in signal.others)
    found = {
        meeting.pk: meeting
        for meeting in Meeting.objects.filter(pk__in=wanted).select_related("organization").order_by()
    }
    for meeting in found.values():
        meeting.visible = access.can(user, access.VIEW, meeting.organization)
    listed = []
    for signal in signals:
        meetings = [found[pk] for pk in signal.meetings if pk in found]
        pairs = [
            SignalPair(found[mine], found.get(other), Decimal(score))
            for mine, other, _org, score in signal.others
            if mine in found
        ]
        listed.append((signal, meetings, pairs))
    return listed
