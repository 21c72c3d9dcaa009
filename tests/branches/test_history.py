"""The change history: every history link the portal shows opens for those who review the record, and only
for them; the history reads as people speak (labels, names, file names), not as the database stores values."""

import re
from datetime import date, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from django.utils import timezone

from assessments import services as duty_services
from assessments.models import Finding, Inspection, ResponsibilityItem, ResponsibilityList
from branches import selectors, services
from branches.models import (
    Cadre,
    CommitteeTerm,
    Employment,
    Meeting,
    Member,
    Post,
    Role,
    TrainingRecord,
)
from tests.conftest import add_cadre
from tests.portal.test_hardening import PNG, upload

HISTORY_LINK = re.compile(r'href="(/orgs/(?:\d+/history|history/\d+/[^/"]+)/)"')


@pytest.fixture
def records(county, people, settings, tmp_path):
    """东村支部 with one record of every kind that has a history link, in both ways records arrive:

    loaded in bulk, as `seed_demo` and imports load them (no entry per row): a cadre 赵一, a member 赵二,
    a meeting, a committee term, a duty and a finding;
    entered through the services (each with entries): a cadre 张一 and its training, a member changed,
    a meeting with attendance, a document (and one deleted), an election, a duty done, an inspection
    with a finding taken in hand.
    """
    settings.MEDIA_ROOT = tmp_path
    east, today = county.east, timezone.localdate()
    Cadre.objects.bulk_create(
        [
            Cadre(
                organization=east,
                name="赵一",
                post=Post.ORGANIZATION_MEMBER,
                employment=Employment.PART_TIME,
                term_start=date(2024, 1, 1),
            )
        ]
    )
    Member.objects.bulk_create(
        [
            Member(
                organization=east,
                name="赵二",
                gender="male",
                category="full",
                joined_party_on=date(2010, 7, 1),
                joined_branch_on=date(2010, 7, 1),
            )
        ]
    )
    Meeting.objects.bulk_create(
        [
            Meeting(
                organization=east,
                meeting_type="theme_day",
                held_at=timezone.now() - timedelta(days=40),
                held_on=today - timedelta(days=40),
                place="村部",
                host="张一",
                topic="批量导入的会议",
            )
        ]
    )
    CommitteeTerm.objects.bulk_create(
        [
            CommitteeTerm(
                organization=east,
                started_on=date(2020, 1, 1),
                ended_on=date(2023, 1, 1),
                length_years=3,
                expected_election_on=date(2023, 1, 1),
            )
        ]
    )
    bulk_list = ResponsibilityList.objects.create(organization=east, year=today.year, title="导入清单")
    ResponsibilityItem.objects.bulk_create(
        [
            ResponsibilityItem(
                responsibility_list=bulk_list,
                organization=east,
                area="ideological",
                text="批量导入的事项",
                due_on=date(today.year, 12, 31),
            )
        ]
    )
    inspection = Inspection.objects.create(organization=east, held_on=today, title="年中督查")
    Finding.objects.bulk_create(
        [
            Finding(
                inspection=inspection,
                organization=east,
                description="批量导入的问题",
                required_rectification="整改",
                deadline=today + timedelta(days=30),
            )
        ]
    )

    cadre = add_cadre(east, "张一", Post.SECRETARY)
    TrainingRecord.objects.create(
        cadre=cadre, course="党务培训", organizer="县委组织部", held_on=date(2025, 3, 1), hours=8
    )
    zhang_er = Member.objects.get(name="张二")
    services.member_save(
        organization=east,
        member=zhang_er,
        data={"category": "probationary", "joined_party_on": zhang_er.joined_party_on},
        by=people.secretary,
    )
    held = timezone.now() - timedelta(days=1)
    expected = selectors.members_on(east, timezone.localdate(held))
    services.meeting_save(
        organization=east,
        data={"meeting_type": "theme_day", "held_at": held, "place": "村部", "host": "张一", "topic": "学习"},
        attendance={m.pk: (True, "") for m in expected},
        by=people.secretary,
    )
    services.attachment_add(organization=east, title="批复", upload=upload("批复文件.png", PNG), by=people.secretary)
    gone = services.attachment_add(organization=east, title="草稿", upload=upload("草稿.png", PNG), by=people.secretary)
    services.attachment_delete(attachment=gone, by=people.secretary)
    services.committee_term_start(organization=east, started_on=date(2024, 1, 1), by=people.secretary)
    item = duty_services.item_add(
        organization=east,
        year=today.year,
        data={"area": "organizational", "text": "按期换届", "due_on": date(today.year, 12, 31)},
        by=people.secretary,
    )
    duty_services.item_complete(item=item, by=people.secretary, version=item.version, note="已完成")
    entered = duty_services.inspection_create(
        organization=east, data={"held_on": today, "title": "专项督查"}, by=people.reviewer
    )
    finding = duty_services.finding_add(
        inspection=entered,
        data={
            "severity": "minor",
            "description": "记录不全",
            "required_rectification": "补齐记录",
            "deadline": today + timedelta(days=9),
            "responsible_cadre": cadre,
        },
        by=people.reviewer,
    )
    duty_services.finding_move(finding=finding, to_state="in_progress", by=people.secretary, version=finding.version)
    return county


def pages_with_history_links(county):
    east = county.east
    return [
        reverse("branches:organization", args=[east.pk]),
        reverse("branches:members", args=[east.pk]),
        reverse("branches:organization_history", args=[east.pk]),
        reverse("branches:organization_history", args=[county.town.pk]),
        *(reverse("branches:meeting", args=[pk]) for pk in Meeting.objects.values_list("pk", flat=True)),
        *(reverse("assessments:item", args=[pk]) for pk in ResponsibilityItem.objects.values_list("pk", flat=True)),
        *(reverse("assessments:finding", args=[pk]) for pk in Finding.objects.values_list("pk", flat=True)),
    ]


def history_links(client, county):
    """Every history link on the pages that show them, and on the history pages they lead to."""
    found, pages = set(), list(pages_with_history_links(county))
    seen = set()
    while pages:
        url = pages.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        for link in HISTORY_LINK.findall(response.content.decode()):
            found.add(link)
            pages.append(link)
    return found


def kinds(links):
    """The kinds of record the links open, by model name."""
    named = set()
    for link in links:
        match = resolve(link)
        if match.url_name == "object_history":
            named.add(ContentType.objects.get_for_id(match.kwargs["content_type_id"]).model)
    return named


@pytest.mark.parametrize("viewer", ["reviewer", "town_reviewer", "admin"])
def test_every_history_link_the_portal_shows_opens_for_those_who_review_it(records, people, signed_in, viewer):
    client = signed_in(getattr(people, viewer))
    links = history_links(client, records)
    assert kinds(links) >= {
        "organization",
        "cadre",
        "member",
        "meeting",
        "attachment",
        "committeeterm",
        "trainingrecord",
        "responsibilitylist",
        "responsibilityitem",
        "inspection",
        "finding",
        "findingtransition",
    }
    assert {link for link in links if client.get(link).status_code != 200} == set()


def test_a_cadre_loaded_in_bulk_opens_its_history_and_says_nothing_changed_yet(records, people, signed_in):
    zhao = Cadre.objects.get(name="赵一")
    url = reverse("branches:object_history", args=[ContentType.objects.get_for_model(Cadre).pk, zhao.pk])
    assert (
        url
        in signed_in(people.town_reviewer)
        .get(reverse("branches:organization", args=[records.east.pk]))
        .content.decode()
    )
    page = signed_in(people.town_reviewer).get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "赵一" in text and "东村支部" in text and "暂无变更记录" in text


def test_a_reviewer_of_another_subtree_gets_404_for_every_history_link(records, people, signed_in, make_user):
    links = history_links(signed_in(people.reviewer), records)
    stranger = signed_in(make_user("organs_reviewer", Role.REVIEWER, records.organs))
    answers = {link: stranger.get(link).status_code for link in links}
    assert answers and set(answers.values()) == {404}


def test_a_secretary_gets_404_for_the_history_of_their_own_records(records, people, signed_in):
    zhao = Cadre.objects.get(name="赵一")
    url = reverse("branches:object_history", args=[ContentType.objects.get_for_model(Cadre).pk, zhao.pk])
    assert signed_in(people.secretary).get(url).status_code == 404


def test_a_training_record_is_in_its_cadres_organization_history(records, people, signed_in):
    page = signed_in(people.town_reviewer).get(reverse("branches:organization_history", args=[records.east.pk]))
    assert "党务培训" in page.content.decode()


# --- what the history says -------------------------------------------------------------


def history_page(client, organization, **query):
    return client.get(reverse("branches:organization_history", args=[organization.pk]), query).content.decode()


def test_the_history_shows_labels_names_and_file_names_not_stored_values(records, people, signed_in):
    page = history_page(signed_in(people.town_reviewer), records.east)
    for stored in (
        "Attendance.None",  # a reverse relation auditlog lists on creation
        ".None",
        "in_progress",  # a finding's state as stored
        "attachments/",  # the storage path of an upload
        "theme_day",
        "organizational",
        "False",
        "True",
    ):
        assert stored not in page, stored
    assert "待整改 → 整改中" in page  # the finding taken in hand, and its step
    assert "批复文件.png" in page  # the file as it was uploaded
    assert "主题党日" in page and "组织建设" in page and "预备党员" in page
    assert "— → 否" in page  # 一肩挑, a boolean


def test_references_show_the_name_of_the_record_and_a_deleted_one_as_the_trail_last_knew_it(records, people, signed_in):
    cadre = Cadre.objects.get(name="张一")
    member = Member.objects.get(name="张二")
    services.cadre_save(organization=records.east, cadre=cadre, data={"member": member}, by=people.secretary)
    people.secretary.first_name = "小张"
    people.secretary.save()
    client = signed_in(people.town_reviewer)
    page = history_page(client, records.east)
    assert "— → 张二" in page  # the cadre's linked member, by name
    assert "— → 小张" in page  # who logged the meeting, by name
    people.secretary.delete()
    assert "— → secretary（已删除）" in history_page(client, records.east)  # the user, as last recorded


def test_the_history_speaks_english_when_english_is_chosen(records, people, signed_in):
    client = signed_in(people.town_reviewer)
    client.cookies["django_language"] = "en"
    page = history_page(client, records.east)
    assert "Open → Being rectified" in page and "Theme Party day" in page and "in_progress" not in page


def test_record_types_to_filter_by_are_the_portals_own_named_in_chinese(records, people, signed_in):
    page = history_page(signed_in(people.town_reviewer), records.east)
    form = page[page.index('name="record"') : page.index("</select>", page.index('name="record"'))]
    options = re.findall(r"<option[^>]*>([^<]*)</option>", form)
    assert {"会议", "党员", "党务干部", "附件", "问题", "责任事项"} <= set(options)
    assert not [o for o in options if "|" in o or "认证和授权" in o or "周期任务" in o or "group" in o]


def test_filtering_by_record_type_keeps_only_that_kind(records, people, signed_in):
    meeting_type = ContentType.objects.get_for_model(Meeting).pk
    page = history_page(signed_in(people.town_reviewer), records.east, record=meeting_type)
    assert "学习" in page and "批复文件.png" not in page


def test_the_history_page_reads_names_in_a_fixed_number_of_queries(records, people, signed_in):
    client = signed_in(people.town_reviewer)
    client.get(reverse("branches:organization_history", args=[records.east.pk]))  # warm the content type cache

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("branches:organization_history", args=[records.east.pk])).status_code == 200
        return len(queries)

    def add_cadres(names):
        for name in names:
            cadre = add_cadre(records.east, name, Post.PUBLICITY_MEMBER)
            member = Member.objects.get(name="张一")
            services.cadre_save(organization=records.east, cadre=cadre, data={"member": member}, by=people.admin)
            TrainingRecord.objects.create(
                cadre=cadre, course="培训", organizer="县委", held_on=date(2025, 3, 1), hours=4
            )

    add_cadres(["钱一"])
    before = count()
    add_cadres(["钱二", "钱三", "钱四", "钱五", "钱六"])
    assert count() == before
