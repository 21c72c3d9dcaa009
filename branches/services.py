"""Writes for organizations, people, roles and meetings.

Every function that writes on behalf of a user follows one contract: the actor comes as `by=`
(keyword-only, required), its permission is checked through `access.require` (PermissionDenied),
the values are validated with the model's own validators (`full_clean`) and the rules here
(ValidationError, messages keyed by field), and only then is anything written, in one transaction.
A refused call writes nothing, stored files included. Jobs and the demo seeding pass
`by=access.system_user()`.
"""

import contextlib
import copy
import logging
import traceback
from contextvars import ContextVar
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connections, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from branches import access, audit, periods, quality, results, selectors, summaries, uploads, workbook
from branches.models import (
    ALLOWED_PARENT_KINDS,
    AbsenceReason,
    Attachment,
    Attendance,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    ComplianceSetting,
    ImportState,
    IntegritySignal,
    IntegritySignalKind,
    IntegritySignalRun,
    Meeting,
    MeetingRequirement,
    MeetingType,
    Member,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    RoleAssignment,
    SecurityEventKind,
    WorkbookImport,
    held_on_of,
)
from branches.validators import check_days, typed

logger = logging.getLogger(__name__)


def _check_parent_kind(kind, parent):
    parent_kind = parent.kind if parent else None
    if parent_kind not in ALLOWED_PARENT_KINDS[OrganizationKind(kind)]:
        if parent is None:
            raise ValidationError(
                {
                    "parent": _("A %(kind)s cannot stand at the top of the tree.")
                    % {"kind": OrganizationKind(kind).label}
                }
            )
        raise ValidationError(
            {
                "parent": _("A %(kind)s cannot be placed under a %(parent_kind)s.")
                % {"kind": OrganizationKind(kind).label, "parent_kind": OrganizationKind(parent_kind).label}
            }
        )


def _check_code_free(code, instance=None):
    clash = Organization.objects.filter(code=code)
    if instance is not None and instance.pk:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError({"code": _("The organization code %(code)s is already in use.") % {"code": code}})


ORGANIZATION_FIELDS = ("code", "name", "sector", "founded_on", "staff_headcount")
TREE_FIELDS = ["path", "depth", "numchild"]  # kept by treebeard, never typed


def _validate_organization(organization):
    """The model's validators (plain-text name, code pattern, sector choice …), then the rules here."""
    organization.full_clean(exclude=TREE_FIELDS, validate_unique=False)
    _check_code_free(organization.code, organization)
    if organization.founded_on and organization.founded_on > date.today():
        raise ValidationError({"founded_on": _("The founding date cannot be in the future.")})


def organization_create(*, parent, kind, data, by) -> Organization:
    """Add an organization under `parent` (None: a new root, which only an admin of a root may add)."""
    access.require(by, access.ADMINISTER, parent)
    instance = Organization(kind=kind, **{name: data.get(name) for name in ORGANIZATION_FIELDS})
    _validate_organization(instance)
    _check_parent_kind(kind, parent)
    if parent is not None and not parent.is_active:
        raise ValidationError({"parent": _("A sub-organization cannot be added under a dissolved organization.")})
    with transaction.atomic():
        if parent is None:
            return Organization.objects.add_root(instance=instance)
        # Re-read the parent: treebeard needs its current path and child count.
        added = Organization.objects.add_child(Organization.objects.get(pk=parent.pk), instance=instance)
        results.refresh(_judged_with(added, parent.pk))
        return added


def organization_update(*, organization, data, by) -> Organization:
    """Change an organization's own fields; the caller's object is left as it was until the change is saved."""
    access.require(by, access.ADMINISTER, organization)
    changed = copy.copy(organization)
    for name in ORGANIZATION_FIELDS:
        if name in data:
            setattr(changed, name, data[name])
    _validate_organization(changed)
    try:
        with transaction.atomic():
            changed.save()
            results.refresh(_judged_with(changed, _parent_id(changed)))
    except IntegrityError:
        raise ValidationError(
            {"code": _("The organization code %(code)s is already in use.") % {"code": changed.code}}
        ) from None
    return changed


@transaction.atomic
def organization_move(*, organization, new_parent, by) -> Organization:
    """Move an organization with its whole subtree under `new_parent` (the actor administers both).

    Records point at organizations by id, so their history moves with them; only
    the paths change. A move into the organization's own subtree is refused (no cycles).
    """
    access.require(by, access.ADMINISTER, organization)
    access.require(by, access.ADMINISTER, new_parent)
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    new_parent = Organization.objects.get(pk=new_parent.pk)
    if new_parent.pk == organization.pk or new_parent.path.startswith(organization.path):
        raise ValidationError(
            {"new_parent": _("An organization cannot be moved under itself or its own sub-organizations.")}
        )
    if not new_parent.is_active:
        raise ValidationError({"new_parent": _("An organization cannot be moved under a dissolved organization.")})
    current_parent_path = organization.path[: -organization.steplen]
    if new_parent.path == current_parent_path:
        raise ValidationError(
            {"new_parent": _("The organization is already directly under %(name)s.") % {"name": new_parent.name}}
        )
    try:
        _check_parent_kind(organization.kind, new_parent)
    except ValidationError as error:
        raise ValidationError({"new_parent": error.message_dict["parent"]}) from None
    subtree = Organization.objects.filter(path__startswith=organization.path)
    before = {org.pk: org for org in subtree}
    old_parent = Organization.objects.filter(path=current_parent_path).first()
    Organization.objects.move(organization, new_parent, pos="last-child")
    moved = Organization.objects.get(pk=organization.pk)
    # Tree moves rewrite paths with bulk updates, which signals never see: record them here.
    changes = []
    for org in Organization.objects.filter(pk__in=before):
        change = {"path": [before[org.pk].path, org.path], "depth": [before[org.pk].depth, org.depth]}
        if org.pk == moved.pk:
            change["parent"] = [old_parent.name if old_parent else None, new_parent.name]
        changes.append((org, change))
    audit.record_bulk(AuditEntry.Action.UPDATE, changes)
    if moved.kind == OrganizationKind.PARTY_GROUP:  # a group judged with another branch now
        results.refresh([old_parent.pk, new_parent.pk])
    return moved


@transaction.atomic
def organization_dissolve(*, organization, on, reason, by) -> Organization:
    """Mark an organization dissolved. Nothing is deleted: its records stay for history."""
    access.require(by, access.ADMINISTER, organization)
    check_days(on=on)  # written by an update, past the model's validators
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    organization.dissolution_reason = reason
    organization.full_clean(exclude=TREE_FIELDS, validate_unique=False)
    if not organization.is_active:
        raise ValidationError({"on": _("This organization is already dissolved.")})
    if on > date.today():
        raise ValidationError({"on": _("The dissolution date cannot be in the future.")})
    if organization.founded_on and on < organization.founded_on:
        raise ValidationError({"on": _("The dissolution date cannot be before the founding date.")})
    last_meeting = Meeting.objects.filter(Q(organization=organization) | Q(party_group=organization)).aggregate(
        last=Max("held_on")
    )["last"]
    if last_meeting is not None and on < last_meeting:
        raise ValidationError(
            {
                "on": _(
                    "A meeting was held on %(day)s, after this date: the dissolution date is the organization's "
                    "last day, on or after its last meeting."
                )
                % {"day": date_format(last_meeting)}
            }
        )
    active_children = Organization.objects.filter(
        path__startswith=organization.path, depth=organization.depth + 1, status=OrganizationStatus.ACTIVE
    ).exclude(kind=OrganizationKind.PARTY_GROUP)
    count = active_children.count()
    if count:
        message = ngettext(
            "Move or dissolve its active sub-organization first.",
            "Move or dissolve its %(count)d active sub-organizations first.",
            count,
        )
        raise ValidationError({"on": message % {"count": count}})
    if selectors.active_member_count(organization):
        raise ValidationError({"on": _("Transfer its members to other branches first.")})
    # Its party groups go with it, in one update that the trail records row by row.
    going = list(Organization.objects.filter(path__startswith=organization.path, status=OrganizationStatus.ACTIVE))
    Organization.objects.filter(pk__in=[org.pk for org in going]).update(
        status=OrganizationStatus.DISSOLVED, dissolved_on=on
    )
    audit.record_bulk(
        AuditEntry.Action.UPDATE,
        [
            (org, {"status": [OrganizationStatus.ACTIVE, OrganizationStatus.DISSOLVED], "dissolved_on": [None, on]})
            for org in going
        ],
    )
    organization.refresh_from_db()
    organization.dissolution_reason = reason
    organization.save(update_fields=["dissolution_reason", "updated_at"])
    results.refresh([org.pk for org in going] + _judged_with(organization, _parent_id(organization))[1:])
    return organization


def _parent_id(organization):
    parent = Organization.objects.filter(path=organization.path[: -organization.steplen]).values("pk").first()
    return parent["pk"] if parent else None


def _judged_with(organization, parent_id):
    """The organizations whose compliance results follow this one's facts: itself, and its branch for a group."""
    ids = [organization.pk]
    if organization.kind == OrganizationKind.PARTY_GROUP and parent_id is not None:
        ids.append(parent_id)
    return ids


def _check_term(term_start, term_end, field="term_end"):
    if term_start and term_end and term_end < term_start:
        raise ValidationError({field: _("The term cannot end before it starts.")})


CADRE_FIELDS = ("name", "member", "post", "employment", "also_unit_head", "term_start", "term_end")


def _own_record(record, organization):
    """A record passed for correction must belong to the organization the actor is allowed on."""
    if record is not None and record.organization_id != organization.pk:
        raise PermissionDenied


def cadre_save(*, organization, data, cadre=None, by) -> Cadre:
    access.require(by, access.EDIT, organization)
    _own_record(cadre, organization)
    _check_term(data.get("term_start"), data.get("term_end"))
    member = data.get("member")
    if member is not None and member.organization_id != organization.pk:
        raise ValidationError({"member": _("This member does not belong to this organization.")})
    cadre = cadre or Cadre(organization=organization)
    for name in CADRE_FIELDS:
        if name in data:
            setattr(cadre, name, data[name])
    if member is not None and not cadre.name:
        cadre.name = member.name
    cadre.full_clean()
    with transaction.atomic():
        cadre.save()
        results.refresh([organization.pk])  # its committee may serve in other months now
    return cadre


MEMBER_FIELDS = (
    "name",
    "gender",
    "category",
    "party_group",
    "joined_party_on",
    "joined_branch_on",
    "status",
    "left_on",
)


def member_save(*, organization, data, member=None, by) -> Member:
    access.require(by, access.EDIT, organization)
    _own_record(member, organization)
    if organization.kind != OrganizationKind.BRANCH:
        raise ValidationError(_("Members can only be added to a Party branch."))
    group = data.get("party_group")
    if group is not None and (
        group.kind != OrganizationKind.PARTY_GROUP
        or not group.path.startswith(organization.path)
        or group.depth != organization.depth + 1
    ):
        raise ValidationError({"party_group": _("Choose a party group of this branch.")})
    joined_branch_on = (
        data.get("joined_branch_on") or data.get("joined_party_on") or (member.joined_branch_on if member else None)
    )
    if data.get("joined_party_on") and data["joined_party_on"] > date.today():
        raise ValidationError({"joined_party_on": _("The Party joining date cannot be in the future.")})
    if data.get("left_on") and joined_branch_on and data["left_on"] < joined_branch_on:
        raise ValidationError({"left_on": _("A member cannot leave before joining the branch.")})
    if data.get("status", "active") != "active" and not data.get("left_on"):
        raise ValidationError({"left_on": _("Give the date the member left the branch.")})
    member = member or Member(organization=organization)
    for name in MEMBER_FIELDS:
        if name in data:
            setattr(member, name, data[name])
    member.joined_branch_on = joined_branch_on
    member.full_clean()
    with transaction.atomic():
        member.save()
        _attendance_within_memberships([member.pk])
    return member


def _attendance_within_memberships(member_ids):
    """A member is expected only while a member: meetings logged for days outside the membership (a transfer
    or a death recorded after the meeting) lose that member's row, and their counts are taken again."""
    for start in range(0, len(member_ids), 1000):
        _attendance_within(member_ids[start : start + 1000])


def _attendance_within(member_ids):
    outside = Q(meeting__held_on__lt=F("member__joined_branch_on")) | Q(
        member__left_on__isnull=False, meeting__held_on__gte=F("member__left_on")
    )
    rows = Attendance.objects.filter(outside, member_id__in=member_ids)
    meetings = list(Meeting.objects.filter(pk__in=rows.values("meeting_id")).order_by("held_on", "pk"))
    if not meetings:
        return
    before = {meeting.pk: _attendance_summary(meeting) for meeting in meetings}
    counts_before = {meeting.pk: (meeting.expected_count, meeting.present_count) for meeting in meetings}
    rows.delete()
    counts = {
        row["meeting_id"]: (row["expected"], row["present"])
        for row in Attendance.objects.filter(meeting__in=meetings)
        .values("meeting_id")
        .annotate(expected=Count("pk"), present=Count("pk", filter=Q(present=True)))
        .order_by()
    }
    for meeting in meetings:
        meeting.expected_count, meeting.present_count = counts.get(meeting.pk, (0, 0))
    Meeting.objects.bulk_update(meetings, ["expected_count", "present_count"])
    summaries.refresh(summaries.key_of(meeting) for meeting in meetings)
    audit.record_bulk(
        AuditEntry.Action.UPDATE,
        [
            (
                meeting,
                {
                    "attendance": [before[meeting.pk], _attendance_summary(meeting)],
                    "expected_count": [counts_before[meeting.pk][0], meeting.expected_count],
                    "present_count": [counts_before[meeting.pk][1], meeting.present_count],
                },
            )
            for meeting in meetings
        ],
    )


def term_length_for(organization):
    return selectors.term_length_years(organization.kind, organization.sector)


@transaction.atomic
def committee_term_start(*, organization, started_on, by) -> CommitteeTerm:
    """Record an election: close the open term and open a new one of the rule's length."""
    access.require(by, access.EDIT, organization)
    check_days(started_on=started_on)  # the term's end is counted from it
    if started_on > date.today():
        raise ValidationError({"started_on": _("The election date cannot be in the future.")})
    if organization.founded_on and started_on < organization.founded_on:
        raise ValidationError({"started_on": _("The election cannot be before the organization was founded.")})
    years = term_length_for(organization)
    open_term = (
        CommitteeTerm.objects.select_for_update().filter(organization=organization, ended_on__isnull=True).first()
    )
    if open_term is not None:
        if started_on < open_term.started_on:
            raise ValidationError({"started_on": _("The election cannot be before the current term began.")})
        open_term.ended_on = started_on
        open_term.full_clean()
        open_term.save(update_fields=["ended_on"])
    term = CommitteeTerm(
        organization=organization,
        started_on=started_on,
        length_years=years,
        expected_election_on=add_years(started_on, years),
    )
    term.full_clean()
    term.save()
    results.refresh([organization.pk])  # its month facts carry the term's state
    return term


def add_years(day, years):
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@transaction.atomic
def role_assign(*, user, organization, role, by) -> RoleAssignment:
    """Give a user a role on an organization (once: a second call returns the same assignment)."""
    access.require(by, access.ADMINISTER, organization)
    assignment = RoleAssignment.objects.filter(user=user, organization=organization, role=role).first()
    if assignment is None:
        assignment = RoleAssignment(user=user, organization=organization, role=role)
        assignment.full_clean()
        assignment.save()
    access.forget(user)
    return assignment


def upload_check(organization, upload, field="file"):
    """Judge an upload by its bytes; a refusal is recorded (outside any transaction) and raised for `field`."""
    name = uploads.safe_original_name(upload.name)
    try:
        return uploads.inspect(upload)
    except ValidationError as error:
        audit.record_refusal(
            SecurityEventKind.UPLOAD_REFUSED, organization_id=organization.pk, detail=f"{name}: {error.messages[0]}"
        )
        raise ValidationError(
            {field: [f"{name}：{error.messages[0]}" if field == "files" else error.messages[0]]}
        ) from None


_stored_files = ContextVar("stored_files", default=None)


@contextlib.contextmanager
def atomic_with_files():
    """One transaction whose stored files go with it: if it rolls back, the files stored inside are removed.

    Nested blocks hand their files to the enclosing one, so a refusal anywhere removes every file of the call.
    """
    outer = _stored_files.get()
    stored = []
    token = _stored_files.set(stored)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        for storage, name in stored:
            storage.delete(name)
        raise
    finally:
        _stored_files.reset(token)
    if outer is not None:
        outer.extend(stored)


def _write_file(field_file, name, upload):
    """Write an upload to the storage. A full or read-only disk is a refusal the person can read (the caller's
    transaction then writes nothing), not a server error."""
    try:
        field_file.save(name, upload, save=False)
    except OSError as error:
        logger.error("could not store an upload: %s", error)
        raise ValidationError(
            _(
                "The file could not be stored: the server's disk is full or cannot be written. Nothing was saved. "
                "Please tell the portal's administrator, and submit again later."
            )
        ) from None


def _store_attachment(organization, title, upload, by, meeting=None):
    """Store a checked upload; inside atomic_with_files, so that a rollback removes the file too."""
    content_type, extension = uploads.inspect(upload)
    attachment = Attachment(
        organization=organization,
        meeting=meeting,
        title=title,
        original_name=uploads.safe_original_name(upload.name),
        content_type=content_type,
        extension=extension,
        size=upload.size,
        uploaded_by=by,
    )
    attachment.full_clean(exclude=["file", "meeting"])
    _write_file(attachment.file, f"upload.{extension}", upload)
    stored = _stored_files.get()
    if stored is not None:
        stored.append((attachment.file.storage, attachment.file.name))
    try:
        attachment.save()
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment


def attachment_add(*, organization, title, upload, by) -> Attachment:
    """Store an upload after sniffing its content; a refusal is recorded and nothing is stored.

    The sniffing comes before the transaction: the record of a refusal must survive the refusal.
    Another service that stores evidence calls upload_check first, then this inside its own
    atomic_with_files block, after its own checks.
    """
    access.require(by, access.EDIT, organization)
    upload_check(organization, upload)
    with atomic_with_files():
        return _store_attachment(organization, title, upload, by)


def meeting_attachment_add(*, meeting, upload, by, title="") -> Attachment:
    """File a sign-in sheet, photo or minutes with a logged meeting, judged as the meeting form judges its files.

    A refusal is recorded and nothing is stored; the title defaults to the file's own name.
    """
    organization = meeting.organization
    access.require(by, access.EDIT, organization)
    upload_check(organization, upload)
    with atomic_with_files():
        title = title.strip() or uploads.safe_original_name(upload.name)[:120]
        return _store_attachment(organization, title, upload, by, meeting=meeting)


# Records of other apps that keep an attachment as evidence register a check here (assessments does, in its
# AppConfig): `check(attachment)` gives the Chinese reason the file must stay, or None. Branches cannot import them.
EVIDENCE_CHECKS = []


def evidence_kept_for(attachment):
    """Why `attachment` cannot be deleted (the evidence of a submitted, verified or completed record), or None."""
    for check in EVIDENCE_CHECKS:
        reason = check(attachment)
        if reason:
            return reason
    return None


@transaction.atomic
def attachment_delete(*, attachment, by):
    """Remove an attachment; the audit trail keeps who removed what, when, and the file's name and SHA-256.

    Refused while the file is the evidence of a record that has been submitted, verified or completed: the record
    would stand on nothing. Sending the record back (or reopening it) frees the file.
    """
    access.require(by, access.EDIT, attachment.organization)
    attachment = Attachment.objects.select_for_update().select_related("organization").get(pk=attachment.pk)
    reason = evidence_kept_for(attachment)
    if reason:
        raise ValidationError(reason)
    stored = attachment.file.name
    storage = attachment.file.storage
    attachment.deleted_file_digest = uploads.stored_digest(attachment)
    attachment.delete()
    transaction.on_commit(lambda: storage.delete(stored))


# --- meetings --------------------------------------------------------------------------


def meeting_date_check(organization, held_at):
    """The day a meeting was held, or a ValidationError on `held_at` (future, before founding, after dissolution)."""
    check_days(held_at=held_at)  # before the day is taken in Beijing time, which the far ends of time overflow
    held_on = held_on_of(held_at)
    if held_at > timezone.now():
        raise ValidationError({"held_at": _("A meeting cannot be logged before it is held.")})
    if organization.founded_on and held_on < organization.founded_on:
        raise ValidationError(
            {
                "held_at": _("The branch was founded on %(day)s, after this date.")
                % {"day": date_format(organization.founded_on)}
            }
        )
    if organization.dissolved_on and held_on > organization.dissolved_on:
        raise ValidationError(
            {
                "held_at": _("The branch was dissolved on %(day)s, before this date.")
                % {"day": date_format(organization.dissolved_on)}
            }
        )
    return held_on


def meeting_save(*, organization, data, attendance, meeting=None, by, files=()):
    """Log (or correct) a meeting with its attendance. Returns (meeting, warnings).

    `attendance` maps member id to (present, reason). It must name exactly those expected at a meeting
    of its type on its day (selectors.expected_on): the committee, the party group or the whole branch.
    Warnings do not block the save: a second committee meeting the same day, a committee meeting without
    a quorum.
    """
    access.require(by, access.EDIT, organization)
    _own_record(meeting, organization)
    if organization.kind != OrganizationKind.BRANCH:
        raise ValidationError(_("Meetings are logged by a Party branch."))
    held_on = meeting_date_check(organization, data["held_at"])
    meeting_type = data["meeting_type"]
    group = data.get("party_group")
    if meeting_type == MeetingType.GROUP_MEETING:
        if group is None:
            raise ValidationError({"party_group": _("Choose the party group that met.")})
    else:
        group = None
    if group is not None and not (group.path.startswith(organization.path) and group.kind == "party_group"):
        raise ValidationError({"party_group": _("Choose a party group of this branch.")})
    if len(data.get("minutes") or "") > settings.MINUTES_MAX_CHARS:
        raise ValidationError(
            {
                "minutes": _("The minutes are %(length)d characters long; the limit is %(limit)d.")
                % {"length": len(data["minutes"]), "limit": settings.MINUTES_MAX_CHARS}
            }
        )
    expected = {m.pk: m for m in selectors.expected_on(organization, held_on, meeting_type, group)}
    strangers = set(attendance) - set(expected)
    if strangers:
        names = "、".join(Member.objects.filter(pk__in=strangers).values_list("name", flat=True)[:10])
        message = _("Not members of this branch on that day: %(names)s.")
        if selectors.members_on(organization, held_on).filter(pk__in=strangers).count() == len(strangers):
            message = _("Not expected at this meeting: %(names)s.")  # members, but not of the committee or group
        raise ValidationError({"attendance": message % {"names": names or _("unknown members")}})
    missing = set(expected) - set(attendance)
    if missing:
        raise ValidationError(
            {
                "attendance": _("Attendance is missing for: %(names)s.")
                % {"names": "、".join(expected[pk].name for pk in sorted(missing))}
            }
        )
    for member_id, (present, reason) in attendance.items():
        if not present and not reason:
            raise ValidationError(
                {"attendance": _("Give a reason for %(name)s's absence.") % {"name": expected[member_id].name}}
            )
        if not present and reason not in AbsenceReason.values:  # rows are written in bulk, past the model's checks
            raise ValidationError(
                {
                    "attendance": _("Choose a reason from the list for %(name)s's absence.")
                    % {"name": expected[member_id].name}
                }
            )
    for upload in files:  # every file is judged before anything is saved
        upload_check(organization, upload, field="files")

    with atomic_with_files():
        before = _attendance_summary(meeting) if meeting else None
        if meeting is None:
            summaries.lock([organization.pk])
            counted_before = None
        else:
            counted_before = summaries.stored_key(meeting)  # the form may have changed the instance
        meeting = meeting or Meeting(organization=organization, logged_by=by)
        for name in ("meeting_type", "held_at", "place", "host", "topic", "minutes"):
            setattr(meeting, name, data.get(name) or "")
        meeting.party_group = group
        meeting.updated_by = by
        meeting.expected_count = len(expected)
        meeting.present_count = sum(1 for present, _reason in attendance.values() if present)
        meeting.full_clean(exclude=["organization", "party_group", "logged_by", "updated_by"])
        meeting.save()
        Attendance.objects.filter(meeting=meeting).delete()
        Attendance.objects.bulk_create(
            [
                Attendance(
                    meeting=meeting, member_id=member_id, present=present, absence_reason="" if present else reason
                )
                for member_id, (present, reason) in attendance.items()
            ]
        )
        after = _attendance_summary(meeting)
        if after != before:
            audit.record_bulk(AuditEntry.Action.UPDATE, [(meeting, {"attendance": [before, after]})])
        for upload in files:
            _store_attachment(organization, uploads.safe_original_name(upload.name), upload, by, meeting=meeting)
        summaries.refresh([summaries.key_of(meeting), counted_before], locked=True)
    return meeting, _meeting_warnings(meeting)


def _attendance_summary(meeting):
    rows = Attendance.objects.filter(meeting=meeting).select_related("member").order_by("member__name", "member_id")
    present = [a.member.name for a in rows if a.present]
    absent = [f"{a.member.name}（{a.get_absence_reason_display()}）" for a in rows if not a.present]
    return f"{_('present')} {len(present)}: {'、'.join(present)}" + (
        f"; {_('absent')}: {'、'.join(absent)}" if absent else ""
    )


def _meeting_warnings(meeting):
    warnings = []
    if meeting.meeting_type == MeetingType.COMMITTEE_MEETING:
        same_day = Meeting.objects.filter(
            organization=meeting.organization_id, meeting_type=meeting.meeting_type, held_on=meeting.held_on
        ).exclude(pk=meeting.pk)
        if same_day.exists():
            warnings.append(
                _(
                    "Another committee meeting is already logged for this day. Please check it is not "
                    "the same meeting twice."
                )
            )
        committee = set(
            selectors.committee_members_on(meeting.organization, meeting.held_on).values_list("member_id", flat=True)
        )
        committee.discard(None)
        if committee:
            present = Attendance.objects.filter(meeting=meeting, member_id__in=committee, present=True).count()
            if present * 2 <= len(committee):
                warnings.append(
                    _(
                        "Only %(present)d of %(total)d committee members attended: a committee meeting "
                        "needs more than half."
                    )
                    % {"present": present, "total": len(committee)}
                )
    return warnings


@transaction.atomic
def meeting_delete(*, meeting, by):
    """Delete a meeting; the audit trail keeps its last state, its attendance and who deleted it."""
    access.require(by, access.EDIT, meeting.organization)
    audit.record_bulk(AuditEntry.Action.UPDATE, [(meeting, {"attendance": [_attendance_summary(meeting), None]})])
    counted = summaries.key_of(meeting)
    meeting.delete()
    summaries.refresh([counted])


@transaction.atomic
def requirement_change(*, requirement, data, today, by) -> MeetingRequirement:
    """Change a meeting rule. A version not yet in force is edited in place. A version in force closes at
    the end of its running period and a new one opens on the first day of the next (next month for a
    monthly rule, next quarter, next year; the coarser one when the period itself changes): periods that
    have begun keep being judged by the rule of their time. Returns the version holding the change.
    Rules hold for the whole tree: only an admin of a root changes them.
    """
    access.require(by, access.ADMINISTER, None)
    data = typed(MeetingRequirement, data)  # the new period is counted from before the rule is validated
    if requirement.effective_from > today:
        for name, value in data.items():
            setattr(requirement, name, value)
        requirement.full_clean()
        requirement.save()
        _results_follow_rules(requirement.effective_from.year)
        return requirement
    old = MeetingRequirement.objects.select_for_update().get(pk=requirement.pk)
    from_day = periods.next_start([old.period, data.get("period", old.period)], today)
    if old.effective_to is not None and old.effective_to < from_day and "effective_to" not in data:
        raise ValidationError(
            {
                "effective_to": _(
                    "This rule ends on %(day)s, before its next period begins: there is nothing to change."
                )
                % {"day": date_format(old.effective_to, "DATE_FORMAT")}
            }
        )
    successor = MeetingRequirement(
        meeting_type=old.meeting_type,
        period=old.period,
        minimum=old.minimum,
        organization_kind=old.organization_kind,
        sector=old.sector,
        per_party_group=old.per_party_group,
        only_with_committee=old.only_with_committee,
        effective_to=old.effective_to,
    )
    for name, value in data.items():
        setattr(successor, name, value)
    successor.effective_from = from_day
    successor.full_clean()
    old.effective_to = from_day - timedelta(days=1)
    old.full_clean()
    old.save()
    successor.save()
    _results_follow_rules(from_day.year)
    return successor


@transaction.atomic
def requirement_save(*, requirement, by) -> MeetingRequirement:
    """Add a rule version, or edit one not yet in force (a version in force changes by `requirement_change`);
    the kept compliance results follow from the version's first year."""
    access.require(by, access.ADMINISTER, None)
    if requirement.pk is not None:
        stored = MeetingRequirement.objects.select_for_update().get(pk=requirement.pk)
        if stored.effective_from <= date.today():
            raise ValidationError(_("This rule is in force: a change to it starts a new version."))
    requirement.full_clean()
    requirement.save()
    _results_follow_rules(requirement.effective_from.year)
    return requirement


@transaction.atomic
def requirement_delete(*, requirement, by):
    """Remove a rule version not yet in force; one that has judged a period stays."""
    access.require(by, access.ADMINISTER, None)
    stored = MeetingRequirement.objects.select_for_update().get(pk=requirement.pk)
    if stored.effective_from <= date.today():
        raise ValidationError(_("A rule that has judged a period stays: close it with an end date instead."))
    stored.delete()
    _results_follow_rules(stored.effective_from.year)


def _results_follow_rules(from_year):
    """A rule version changes what every organization of its kind owes from its first year on: the kept
    results of those years are recomputed in the same transaction."""
    for year in sorted(results.covered_years()):
        if year >= from_year:
            results.rebuild(year=year)


@transaction.atomic
def compliance_setting_save(*, data, by) -> ComplianceSetting:
    """Change how records are judged (the days after which a meeting counts as logged late). The summaries'
    late counts are recomputed in the same transaction, so no table shows figures of the old setting."""
    access.require(by, access.ADMINISTER, None)
    data = typed(ComplianceSetting, data)
    setting = ComplianceSetting.objects.select_for_update().order_by("pk").first() or ComplianceSetting()
    for name, value in data.items():
        setattr(setting, name, value)
    setting.full_clean()
    setting.save()
    summaries.rebuild()
    return setting


# --- workbook import ------------------------------------------------------------------------


def workbook_upload(*, organization, upload, by) -> WorkbookImport:
    """Keep an uploaded workbook of organizations, members and cadres for its check and preview.

    The file is judged before it is stored: its size, a real .xlsx, what its zip would unpack to. A refusal is
    recorded as a refused upload and nothing is stored.
    """
    access.require(by, access.ADMINISTER, organization)
    name = uploads.safe_original_name(upload.name)
    try:
        workbook.check_file(upload)
    except ValidationError as error:
        audit.record_refusal(
            SecurityEventKind.UPLOAD_REFUSED, organization_id=organization.pk, detail=f"{name}: {error.messages[0]}"
        )
        raise ValidationError({"file": error.messages}) from None
    record = WorkbookImport(organization=organization, original_name=name, size=upload.size, uploaded_by=by)
    with atomic_with_files():
        _write_file(record.file, "upload.xlsx", upload)
        stored = _stored_files.get()
        if stored is not None:
            stored.append((record.file.storage, record.file.name))
        record.save()
    return record


def _progress_of(record):
    """A callback that shows how far a run is. Inside the apply's transaction the row is written through a
    connection of its own on PostgreSQL, so the page sees it before the commit (SQLite shows it at the end)."""
    side = {}

    def report(percent):
        if not transaction.get_connection().in_atomic_block:
            WorkbookImport.objects.filter(pk=record.pk).update(progress=percent)
            return
        if transaction.get_connection().vendor != "postgresql":
            return
        if "connection" not in side:
            side["connection"] = connections.create_connection(DEFAULT_DB_ALIAS)
        with side["connection"].cursor() as cursor:
            cursor.execute("UPDATE branches_workbookimport SET progress = %s WHERE id = %s", [percent, record.pk])

    def close():
        if "connection" in side:
            side["connection"].close()

    report.close = close
    return report


def workbook_check(*, record, by) -> WorkbookImport:
    """Read the stored workbook and decide every row (create, update, unchanged, refused) without writing any.

    The preview and its fingerprint are kept on the import; it can be applied only if no row is refused.
    """
    access.require(by, access.ADMINISTER, record.organization)
    with transaction.atomic():
        record = WorkbookImport.objects.select_for_update().select_related("organization").get(pk=record.pk)
        if record.state not in (ImportState.UPLOADED, ImportState.CHECKED, ImportState.REFUSED):
            raise ValidationError(
                _("This import cannot be checked now (%(state)s).") % {"state": record.get_state_display()}
            )
        record.state = ImportState.CHECKING
        record.progress = 0
        record.save(update_fields=["state", "progress"])
    progress = _progress_of(record)
    try:
        with record.file.open("rb") as stored:
            outcome = workbook.plan(stored, root=record.organization, user=by, progress=progress)
    except ValidationError as error:
        outcome = workbook.Outcome(error=error.messages[0])
    except Exception as error:
        WorkbookImport.objects.filter(pk=record.pk).update(state=ImportState.FAILED, error=str(error)[:2000])
        raise
    finally:
        progress.close()
    record.preview = outcome.as_preview()
    record.rows_total = outcome.rows_total
    record.progress = 100
    record.plan_digest = "" if outcome.refused else outcome.digest
    record.state = ImportState.REFUSED if outcome.refused else ImportState.CHECKED
    record.error = outcome.error
    record.save(update_fields=["preview", "rows_total", "progress", "plan_digest", "state", "error"])
    return record


class _PlanChanged(Exception):
    def __init__(self, outcome):
        self.outcome = outcome


def _apply_cut_off(record):
    """An import left "being applied" by a run that died with its worker (or its connection): a live apply holds
    the tree's lock to its end, so a free lock means the run is gone, and its transaction with it."""
    if record.state != ImportState.APPLYING or not record.plan_digest:
        return False
    try:
        with transaction.atomic():
            Organization.objects.select_for_update(nowait=True).filter(pk=record.organization_id).first()
    except OperationalError:  # the lock is taken: that apply is still running
        return False
    return True


def workbook_apply(*, record, by) -> WorkbookImport:
    """Write what the preview showed, all or nothing, in one transaction, with one audit entry for the import.

    The file is read again and every row decided again; if the result differs from the preview (the tree or
    the people changed since), nothing is written and the import goes back to be checked again. Applying a
    second time, or a file that is already in, changes nothing: rows are matched by their keys. An apply cut off
    (its worker killed) is run again by the next call: the task delivered again, or the button.
    """
    access.require(by, access.ADMINISTER, record.organization)
    with transaction.atomic():
        record = WorkbookImport.objects.select_for_update().select_related("organization").get(pk=record.pk)
        if not (record.can_apply or _apply_cut_off(record)):
            raise ValidationError(
                _("This import is not waiting to be applied (%(state)s).") % {"state": record.get_state_display()}
            )
        record.state = ImportState.APPLYING
        record.progress = 0
        record.save(update_fields=["state", "progress"])
    root = record.organization
    progress = _progress_of(record)
    try:
        with transaction.atomic():
            # One import at a time in a tree: new organizations' paths are counted from the parents' last child.
            Organization.objects.select_for_update().filter(pk=root.pk).first()
            if WorkbookImport.objects.filter(pk=record.pk, state=ImportState.APPLIED).exists():
                return WorkbookImport.objects.get(pk=record.pk)  # a second click waited for the first apply
            with record.file.open("rb") as stored:
                outcome = workbook.plan(stored, root=root, user=by, write=True, progress=progress)
            if outcome.refused or outcome.digest != record.plan_digest:
                raise _PlanChanged(outcome)
            _attendance_within_memberships(outcome.changed_members)
            counts = {key: vars(tally) for key, tally in outcome.counts.items()}
            audit.record_summary(
                root,
                AuditEntry.Action.UPDATE,
                {"import": record.pk, "file": record.original_name, "rows": outcome.rows_total, **counts},
            )
            record.state = ImportState.APPLIED
            record.applied_at = timezone.now()
            record.progress = 100
            record.error = ""
            record.save(update_fields=["state", "applied_at", "progress", "error"])
    except _PlanChanged as changed:
        record.preview = changed.outcome.as_preview()
        record.state = ImportState.REFUSED if changed.outcome.refused else ImportState.CHECKED
        record.plan_digest = "" if changed.outcome.refused else changed.outcome.digest
        record.error = _(
            "The organizations or people changed after the check, so nothing was written. The preview below is "
            "up to date: look at it again before applying."
        )
        record.save(update_fields=["preview", "state", "plan_digest", "error"])
        raise ValidationError(record.error) from None
    except Exception as error:
        WorkbookImport.objects.filter(pk=record.pk).update(state=ImportState.FAILED, error=str(error)[:2000])
        raise
    finally:
        progress.close()
    return record


def integrity_signals_refresh(*, by, year, root=None) -> dict[str, int]:
    """Recompute the integrity signals (台账质量提示) of one year, of the subtree under `root` or of the whole tree
    (a reviewer of the subtree, or an admin of a root for the whole tree; the nightly job as the system user).

    The year's rows in scope are replaced in one transaction: a signal that no longer holds disappears. Minutes are
    compared with the whole tree's either way, so a refreshed subtree finds the same copies the nightly run does.
    Returns how many organizations each kind flags. Each run is recorded (`IntegritySignalRun`), a failed one with
    its error, so that pages tell "none found" from "not computed yet" and from "failed"."""
    access.require(by, (access.REVIEW, access.ADMINISTER), root)
    if not isinstance(year, int) or not periods.FIRST_YEAR <= year <= periods.LAST_YEAR:
        raise ValidationError(
            {
                "year": _("The year must lie between %(first)d and %(last)d.")
                % {"first": periods.FIRST_YEAR, "last": periods.LAST_YEAR}
            }
        )
    run = IntegritySignalRun.objects.create(year=year, organization=root)
    try:
        counts = _integrity_signals_replace(year, root)
    except Exception:
        # Recorded outside the failed transaction, so the failure is seen; the year's earlier rows stay as they were.
        IntegritySignalRun.objects.filter(pk=run.pk).update(
            state=IntegritySignalRun.State.FAILED, finished_at=timezone.now(), error=traceback.format_exc()[-4000:]
        )
        raise
    scope = Organization.objects.all() if root is None else Organization.objects.filter(path__startswith=root.path)
    run.state, run.finished_at = IntegritySignalRun.State.OK, timezone.now()
    run.counts, run.found, run.organizations = counts, sum(counts.values()), scope.count()
    run.save(update_fields=["state", "finished_at", "counts", "found", "organizations"])
    return counts


def _integrity_signals_replace(year, root):
    found = quality.find(year, root)
    now = timezone.now()
    kept = IntegritySignal.MEETINGS_KEPT
    rows = [
        IntegritySignal(
            organization_id=each.organization_id,
            year=year,
            kind=each.kind,
            figure=each.figure,
            meeting_count=len(each.meetings),
            meetings=each.meetings[:kept],
            others=each.others[:kept],
            computed_at=now,
        )
        for each in found
    ]
    with transaction.atomic():
        stale = IntegritySignal.objects.filter(year=year)
        if root is not None:
            stale = stale.filter(organization__path__startswith=root.path)
        stale.delete()
        # Two runs at once (the nightly job and a command) count the same rows: the later one's are kept.
        IntegritySignal.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["organization", "year", "kind"],
            update_fields=["figure", "meeting_count", "meetings", "others", "computed_at"],
        )
    counts = dict.fromkeys(IntegritySignalKind.values, 0)
    for each in found:
        counts[each.kind] += 1
    return counts
