"""The write services of organizations, people and meetings, called with the worst values a form, an API client or
a script can hand them: each either does its work or refuses with a ValidationError (or PermissionDenied); never
another exception, and a refusal writes nothing.

The services are called directly, by a user allowed to act, so that their own validation is what is tested (forms
and serializers in front of them check too, but a service must not rely on it). Values come typed, as a form would
clean them, but hostile: text with NUL bytes, lone surrogates and control characters, dates at the ends of the
calendar, numbers at the limits, file names and bytes of any kind.
"""

import io
import os
from datetime import date, datetime, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from hypothesis import assume, given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from branches import selectors, services, workbook
from branches.models import (
    Attachment,
    Attendance,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    ComplianceSetting,
    Employment,
    Gender,
    Meeting,
    MeetingRequirement,
    MeetingType,
    Member,
    MemberCategory,
    Organization,
    OrganizationKind,
    Post,
    Sector,
    WorkbookImport,
)
from tests.hostile import (
    CLASSICS,
    CONTENTS,
    DATES,
    HOSTILE_SETTINGS,
    INTEGERS,
    MOMENTS,
    TEXT,
    record,
    without_surrogates,
)
from tests.portal.test_hardening import PNG


class Attempts:
    """Calls a service with hostile values and keeps the score: a refusal must leave every watched table (and the
    audit trail) as it was; any exception but a refusal is a defect (a server error in a page)."""

    def __init__(self, target, *models):
        self.target, self.models = target, models
        self.tried = self.server_errors = self.partial_saves = 0

    def rows(self):
        """The watched tables row by row, and the audit trail by its size (it only grows)."""
        rows = {model.__name__: list(model._base_manager.order_by("pk").values()) for model in self.models}
        rows["AuditEntry"] = AuditEntry.objects.count()
        return rows

    def call(self, service, **kwargs):
        """The service's result, or None when it refused."""
        self.tried += 1
        before = self.rows()
        try:
            # A defect must not break the test's transaction for the next example; what a refusal left behind is
            # looked at inside this block, before it is rolled back.
            with transaction.atomic():
                try:
                    return service(**kwargs)
                except (ValidationError, PermissionDenied) as refusal:
                    assert getattr(refusal, "messages", ["denied"]), "a refusal says why"
                    after = self.rows()
                    if after != before:
                        self.partial_saves += 1
                        self.done()  # the report counts the failing example too
                        changed = [name for name in before if before[name] != after[name]]
                        pytest.fail(f"{service.__name__} refused ({refusal}) but changed {changed}")
                    return None
        except Exception as error:
            self.server_errors += 1
            self.done()
            raise AssertionError(
                f"{service.__name__}({_short(kwargs)}) raised {type(error).__name__}: {error}"
            ) from error

    def done(self):
        record(self.target, tried=self.tried, server_errors=self.server_errors, partial_saves=self.partial_saves)


def _short(kwargs):
    return ", ".join(f"{key}={value!r}"[:200] for key, value in kwargs.items() if key != "by")


def maybe(strategy, typical):
    """The hostile value, or now and then a typical one, so that the other fields' hostility gets its turn."""
    return st.one_of(strategy, st.just(typical))


def aware(day, hour=9):
    return timezone.make_aware(datetime.combine(day, time(hour)))


# --- organizations -------------------------------------------------------------------------------------------


@given(
    code=maybe(TEXT, "T-E-9"),
    name=maybe(TEXT, "西村支部"),
    sector=maybe(TEXT, Sector.VILLAGE),
    founded_on=maybe(DATES, None),
    staff_headcount=maybe(INTEGERS, None),
)
@HOSTILE_SETTINGS
def test_organization_create_refuses_what_it_cannot_keep(
    county, people, code, name, sector, founded_on, staff_headcount
):
    attempts = Attempts("service organization_create", Organization)
    data = {"code": code, "name": name, "sector": sector, "founded_on": founded_on, "staff_headcount": staff_headcount}
    attempts.call(
        services.organization_create, parent=county.town, kind=OrganizationKind.BRANCH, data=data, by=people.admin
    )
    attempts.done()


@given(field=st.sampled_from(["code", "name", "sector", "founded_on", "staff_headcount"]), data=st.data())
@HOSTILE_SETTINGS
def test_organization_update_refuses_what_it_cannot_keep(county, people, field, data):
    value = data.draw({"founded_on": DATES, "staff_headcount": INTEGERS}.get(field, TEXT), label=field)
    attempts = Attempts("service organization_update", Organization)
    attempts.call(services.organization_update, organization=county.south, data={field: value}, by=people.admin)
    attempts.done()


@given(on=DATES, reason=TEXT)
@HOSTILE_SETTINGS
def test_organization_dissolve_refuses_what_it_cannot_keep(county, people, on, reason):
    Member.objects.filter(organization=county.south).update(status="left", left_on=date(2020, 1, 1))
    attempts = Attempts("service organization_dissolve", Organization)
    dissolved = attempts.call(
        services.organization_dissolve, organization=county.south, on=on, reason=reason, by=people.admin
    )
    if dissolved is not None:
        assert 1921 <= Organization.objects.get(pk=county.south.pk).dissolved_on.year <= 2100
    attempts.done()


# --- people -----------------------------------------------------------------------------------------------------


@given(
    name=maybe(TEXT, "赵六"),
    gender=maybe(TEXT, Gender.FEMALE),
    category=maybe(TEXT, MemberCategory.FULL),
    joined_party_on=maybe(DATES, date(2015, 7, 1)),
    joined_branch_on=maybe(DATES, None),
    status=maybe(TEXT, "active"),
    left_on=maybe(DATES, None),
)
@HOSTILE_SETTINGS
def test_member_save_refuses_what_it_cannot_keep(
    county, people, name, gender, category, joined_party_on, joined_branch_on, status, left_on
):
    attempts = Attempts("service member_save", Member, Attendance, Meeting)
    data = {
        "name": name,
        "gender": gender,
        "category": category,
        "joined_party_on": joined_party_on,
        "joined_branch_on": joined_branch_on,
        "status": status,
        "left_on": left_on,
    }
    attempts.call(services.member_save, organization=county.east, data=data, by=people.secretary)
    existing = Member.objects.get(organization=county.east, name="张二")
    attempts.call(services.member_save, organization=county.east, data=data, member=existing, by=people.secretary)
    attempts.done()


@given(
    name=maybe(TEXT, "赵六"),
    post=maybe(TEXT, Post.DEPUTY_SECRETARY),
    employment=maybe(TEXT, Employment.PART_TIME),
    term_start=maybe(DATES, date(2025, 1, 1)),
    term_end=maybe(DATES, None),
)
@HOSTILE_SETTINGS
def test_cadre_save_refuses_what_it_cannot_keep(county, people, name, post, employment, term_start, term_end):
    attempts = Attempts("service cadre_save", Cadre)
    data = {"name": name, "post": post, "employment": employment, "term_start": term_start, "term_end": term_end}
    attempts.call(services.cadre_save, organization=county.finance, data=data, by=people.finance_secretary)
    existing = Cadre.objects.get(organization=county.finance)
    attempts.call(
        services.cadre_save, organization=county.finance, data=data, cadre=existing, by=people.finance_secretary
    )
    attempts.done()


@given(started_on=DATES)
@HOSTILE_SETTINGS
def test_committee_term_start_refuses_what_it_cannot_keep(county, people, started_on):
    attempts = Attempts("service committee_term_start", CommitteeTerm)
    attempts.call(services.committee_term_start, organization=county.east, started_on=started_on, by=people.secretary)
    attempts.done()


# --- meetings ---------------------------------------------------------------------------------------------------


@given(
    held_at=maybe(MOMENTS, None),
    place=maybe(TEXT, "村部"),
    host=maybe(TEXT, "张一"),
    topic=maybe(TEXT, "学习党章"),
    minutes=maybe(TEXT, ""),
    meeting_type=maybe(TEXT, MeetingType.THEME_DAY),
    reasons=st.lists(maybe(TEXT, "sick"), min_size=3, max_size=3),
    stranger=st.one_of(st.none(), INTEGERS),
)
@HOSTILE_SETTINGS
def test_meeting_save_refuses_what_it_cannot_keep(
    county, people, held_at, place, host, topic, minutes, meeting_type, reasons, stranger
):
    held_at = held_at or aware(timezone.localdate().replace(day=1))
    day = timezone.localdate().replace(day=1)
    expected = list(selectors.expected_on(county.east, day, MeetingType.THEME_DAY))
    attendance = {member.pk: (reason == "", reason) for member, reason in zip(expected, reasons, strict=False)}
    if stranger is not None:
        attendance[stranger] = (True, "")
    data = {"held_at": held_at, "meeting_type": meeting_type, "place": place, "host": host, "topic": topic}
    data["minutes"] = minutes
    attempts = Attempts("service meeting_save", Meeting, Attendance, Attachment)
    attempts.call(
        services.meeting_save, organization=county.east, data=data, attendance=attendance, by=people.secretary
    )
    attempts.done()


# --- files ------------------------------------------------------------------------------------------------------


@given(
    title=maybe(TEXT, "扫描件"),
    name=st.one_of(TEXT, TEXT.map(lambda text: text + ".png")),
    content=st.one_of(CONTENTS, st.just(PNG)),
)
@HOSTILE_SETTINGS
def test_attachment_add_refuses_what_it_cannot_keep(county, people, settings, tmp_path, title, name, content):
    # Django itself refuses a file without a name before any view sees it.
    assume(os.path.basename(name) not in {"", ".", ".."})
    settings.MEDIA_ROOT = tmp_path
    attempts = Attempts("service attachment_add", Attachment)
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    attempts.call(services.attachment_add, organization=county.east, title=title, upload=upload, by=people.secretary)
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    meeting = Meeting.objects.filter(organization=county.east).first()
    if meeting is not None:
        attempts.call(services.meeting_attachment_add, meeting=meeting, upload=upload, title=title, by=people.secretary)
    stored = {path.name for path in tmp_path.rglob("*") if path.is_file()}
    assert len(stored) == Attachment.objects.count(), "a refused file is not left in the storage"
    attempts.done()


def test_a_classic_hostile_title_is_kept_as_text_or_refused(county, people, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    attempts = Attempts("service attachment_add classics", Attachment)
    for title in CLASSICS:
        upload = SimpleUploadedFile(f"{title[:20]}.png", PNG, content_type="image/png")
        added = attempts.call(
            services.attachment_add, organization=county.east, title=title, upload=upload, by=people.secretary
        )
        if added is not None:
            assert Attachment.objects.get(pk=added.pk).title == title
    attempts.done()


def test_every_classic_value_in_free_text_is_kept_as_typed_or_refused(county, people):
    """Each hostile classic (NUL bytes, lone surrogates, markup, formulas, oversized text) as an organization's name,
    a member's, a cadre's, and a meeting's topic and minutes: kept exactly as typed, or refused."""
    attempts = Attempts("service free text classics", Organization, Member, Cadre, Meeting, Attendance)
    day = timezone.localdate().replace(day=1)
    expected = list(selectors.expected_on(county.east, day, MeetingType.THEME_DAY))
    for text in CLASSICS:
        kept = attempts.call(
            services.organization_update, organization=county.south, data={"name": text}, by=people.admin
        )
        if kept is not None:
            assert Organization.objects.get(pk=county.south.pk).name == text
        data = {
            "name": text,
            "gender": Gender.MALE,
            "category": MemberCategory.FULL,
            "joined_party_on": date(2015, 1, 1),
        }
        kept = attempts.call(services.member_save, organization=county.east, data=data, by=people.secretary)
        if kept is not None:
            assert Member.objects.get(pk=kept.pk).name == text
        data = {"name": text, "post": Post.COMMITTEE_MEMBER, "employment": Employment.PART_TIME}
        data["term_start"] = date(2025, 1, 1)
        kept = attempts.call(services.cadre_save, organization=county.finance, data=data, by=people.finance_secretary)
        if kept is not None:
            assert Cadre.objects.get(pk=kept.pk).name == text
        data = {"held_at": aware(day), "meeting_type": MeetingType.THEME_DAY, "place": "村部", "host": "张一"}
        data.update(topic=text[:200] or "学习", minutes=text)
        kept = attempts.call(
            services.meeting_save,
            organization=county.east,
            data=data,
            attendance={member.pk: (True, "") for member in expected},
            by=people.secretary,
        )
        if kept is not None:
            assert Meeting.objects.get(pk=kept[0].pk).minutes == text
    attempts.done()


# --- the workbook import ------------------------------------------------------------------------------------------


CELL = st.one_of(
    TEXT.map(lambda text: ILLEGAL_CHARACTERS_RE.sub("", without_surrogates(text))),  # what an .xlsx can hold
    INTEGERS,
    DATES,
    MOMENTS.map(lambda moment: moment.replace(tzinfo=None)),
    st.floats(),
    st.booleans(),
    st.none(),
)


@given(data=st.data())
@HOSTILE_SETTINGS
def test_a_workbook_with_any_one_cell_changed_is_imported_or_refused(county, people, settings, tmp_path, data):
    """The county's own export with any one cell (headers included) replaced by a hostile value: uploaded, checked
    and applied, or refused, and a refusal changes nothing."""
    settings.MEDIA_ROOT = tmp_path
    book = load_workbook(io.BytesIO(workbook.export(county.root)))
    # Fixed bounds: the export grows as examples import rows, and what is drawn must not depend on it.
    sheet = book.worksheets[data.draw(st.integers(min_value=0, max_value=len(book.worksheets) - 1), label="sheet")]
    row = data.draw(st.integers(min_value=1, max_value=8), label="row")
    column = data.draw(st.integers(min_value=1, max_value=12), label="column")
    sheet.cell(row=row, column=column, value=data.draw(CELL, label="value"))
    buffer = io.BytesIO()
    book.save(buffer)
    upload = SimpleUploadedFile("import.xlsx", buffer.getvalue(), content_type="application/octet-stream")
    attempts = Attempts("service workbook import", Organization, Member, Cadre)
    record = attempts.call(services.workbook_upload, organization=county.root, upload=upload, by=people.admin)
    if record is not None:
        record = attempts.call(services.workbook_check, record=record, by=people.admin) or record
        attempts.call(services.workbook_apply, record=record, by=people.admin)
    attempts.done()


@given(name=TEXT, content=CONTENTS)
@HOSTILE_SETTINGS
def test_workbook_upload_refuses_files_that_are_not_workbooks(county, people, settings, tmp_path, name, content):
    assume(os.path.basename(name + ".xlsx") not in {"", ".", ".."})
    settings.MEDIA_ROOT = tmp_path
    attempts = Attempts("service workbook_upload", WorkbookImport)
    upload = SimpleUploadedFile(name + ".xlsx", content, content_type="application/octet-stream")
    attempts.call(services.workbook_upload, organization=county.root, upload=upload, by=people.admin)
    attempts.done()


@pytest.mark.parametrize("name", ["\x00.xlsx", "a\x00b.xlsx", "\ud800.xlsx", "党支部" * 100 + ".xlsx"])
def test_a_good_workbook_under_a_hostile_name_is_kept_under_a_storable_name_or_refused(
    county, people, settings, tmp_path, name
):
    settings.MEDIA_ROOT = tmp_path
    attempts = Attempts("service workbook_upload names", WorkbookImport)
    upload = SimpleUploadedFile(name, workbook.export(county.root), content_type="application/octet-stream")
    record = attempts.call(services.workbook_upload, organization=county.root, upload=upload, by=people.admin)
    if record is not None:
        assert WorkbookImport.objects.get(pk=record.pk).original_name == record.original_name
    attempts.done()


# --- the rules ----------------------------------------------------------------------------------------------------


@given(
    field=st.sampled_from(["meeting_type", "period", "minimum", "organization_kind", "sector", "effective_to"]),
    data=st.data(),
)
@HOSTILE_SETTINGS
def test_requirement_change_refuses_what_it_cannot_keep(county, people, field, data):
    value = data.draw({"minimum": INTEGERS, "effective_to": DATES}.get(field, TEXT), label=field)
    requirement = MeetingRequirement.objects.filter(effective_from__lte=date.today()).order_by("pk").first()
    attempts = Attempts("service requirement_change", MeetingRequirement)
    attempts.call(
        services.requirement_change, requirement=requirement, data={field: value}, today=date.today(), by=people.admin
    )
    attempts.done()


@given(days=st.one_of(INTEGERS, TEXT))
@HOSTILE_SETTINGS
def test_compliance_setting_save_refuses_what_it_cannot_keep(county, people, days):
    attempts = Attempts("service compliance_setting_save", ComplianceSetting)
    attempts.call(services.compliance_setting_save, data={"late_log_days": days}, by=people.admin)
    attempts.done()
