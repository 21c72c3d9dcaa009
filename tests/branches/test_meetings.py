"""A secretary logs a meeting; bad input is refused beside the field with everything typed kept."""

import errno
from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.urls import reverse
from django.utils import timezone

from branches import services
from branches.models import Attachment, AuditEntry, Meeting, Member, SecurityEvent
from tests.conftest import add_cadre, add_member, system
from tests.portal.test_hardening import PNG, upload


def form_data(branch, **overrides):
    """A filled form: everyone present, unless overridden."""
    now = timezone.localtime()
    when = now - timedelta(days=1)
    if when.month != now.month:  # on a month's first day: still this month, or the owed cards move on
        when = now.replace(hour=0, minute=0, second=0, microsecond=0)
    data = {
        "meeting_type": "committee_meeting",
        "held_at": when.strftime("%Y-%m-%dT%H:%M"),
        "place": "村部会议室",
        "host": "张一",
        "topic": "研究十一月党建工作",
        "minutes": "会议研究了党员发展工作。",
    }
    for member in services.selectors.members_on(branch, when.date()):
        data[f"present_{member.pk}"] = "on"
        data[f"reason_{member.pk}"] = ""  # a browser always sends the select, even when empty
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def committee(county):
    for name, post in (("张一", "secretary"), ("张二", "organization_member"), ("张三", "publicity_member")):
        cadre = add_cadre(county.east, name, post, date(2024, 1, 1))
        cadre.member = Member.objects.get(name=name)
        cadre.save()
    return county


def test_a_secretary_logs_a_committee_meeting_and_the_requirement_turns_fulfilled(committee, people, signed_in):
    client = signed_in(people.secretary)
    owed = reverse("branches:meetings_owed", args=[committee.east.pk])
    assert 'data-type="committee_meeting" data-fulfilled="no"' in client.get(owed).content.decode()
    zhang_san = Member.objects.get(name="张三")
    response = client.post(
        reverse("branches:meeting_add", args=[committee.east.pk]),
        form_data(committee.east, **{f"present_{zhang_san.pk}": None, f"reason_{zhang_san.pk}": "sick"}),
    )
    assert response.status_code == 302
    meeting = Meeting.objects.get()
    assert (meeting.expected_count, meeting.present_count) == (3, 2)
    assert meeting.attendance.get(member=zhang_san).absence_reason == "sick"
    assert meeting.logged_by == people.secretary
    assert 'data-type="committee_meeting" data-fulfilled="yes"' in client.get(owed).content.decode()
    detail = client.get(response.url).content.decode()
    assert "张三（病假）" in detail and "研究十一月党建工作" in detail


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"held_at": (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")}, "尚未召开"),
        ({"held_at": "1990-01-01T09:00"}, "成立"),
        ({"minutes": "很长" * 10001}, "上限"),
        ({"topic": "<script>alert(1)</script>"}, "HTML"),
    ],
)
def test_bad_input_is_refused_beside_the_field_and_nothing_typed_is_lost(
    committee, people, signed_in, overrides, message
):
    committee.east.founded_on = date(2000, 1, 1)
    committee.east.save()
    client = signed_in(people.secretary)
    response = client.post(
        reverse("branches:meeting_add", args=[committee.east.pk]), form_data(committee.east, **overrides)
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "村部会议室" in page and "会议研究了党员发展工作。" in page or "很长" in page
    assert not Meeting.objects.exists()


def test_an_absence_needs_a_reason(committee, people, signed_in):
    zhang_er = Member.objects.get(name="张二")
    response = signed_in(people.secretary).post(
        reverse("branches:meeting_add", args=[committee.east.pk]),
        form_data(committee.east, **{f"present_{zhang_er.pk}": None}),
    )
    assert "请填写张二的缺席原因" in response.content.decode().replace(" ", "")
    assert not Meeting.objects.exists()


def test_an_attendee_who_was_not_a_member_that_day_is_refused_by_name(committee, people, signed_in):
    newcomer = add_member(
        committee.east, "张新", joined=timezone.localdate()
    )  # joined today, the meeting was yesterday
    response = signed_in(people.secretary).post(
        reverse("branches:meeting_add", args=[committee.east.pk]),
        form_data(
            committee.east,
            held_at=(timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            **{f"present_{newcomer.pk}": "on"},
        ),
    )
    page = response.content.decode()
    assert "张新" in page and "不是本支部党员" in page
    assert not Meeting.objects.exists()


def test_another_branchs_member_is_refused_without_naming_them(committee, people, signed_in):
    li = Member.objects.get(name="李一")
    response = signed_in(people.secretary).post(
        reverse("branches:meeting_add", args=[committee.east.pk]),
        form_data(committee.east, **{f"present_{li.pk}": "on"}),
    )
    page = response.content.decode()
    assert "李一" not in page
    assert not Meeting.objects.exists()


def test_a_wrong_attachment_is_refused_and_nothing_is_saved(committee, people, signed_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = form_data(committee.east)
    data["files"] = [upload("scan.jpg", b"<script>alert(1)</script>")]
    response = signed_in(people.secretary).post(reverse("branches:meeting_add", args=[committee.east.pk]), data)
    assert response.status_code == 200
    assert "scan.jpg" in response.content.decode() and "不支持该文件类型" in response.content.decode()
    assert not Meeting.objects.exists() and not Attachment.objects.exists()
    assert SecurityEvent.objects.filter(kind="upload_refused").exists()


def test_photos_are_stored_with_the_meeting(committee, people, signed_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = form_data(committee.east)
    data["files"] = [upload("现场照片.png", PNG), upload("签到表.png", PNG)]
    response = signed_in(people.secretary).post(reverse("branches:meeting_add", args=[committee.east.pk]), data)
    assert response.status_code == 302
    meeting = Meeting.objects.get()
    assert sorted(meeting.attachments.values_list("title", flat=True)) == ["現場照片.png", "签到表.png"] or sorted(
        meeting.attachments.values_list("title", flat=True)
    ) == sorted(["现场照片.png", "签到表.png"])


def test_a_second_committee_meeting_the_same_day_is_a_warning_not_a_block(committee, people, signed_in):
    client = signed_in(people.secretary)
    url = reverse("branches:meeting_add", args=[committee.east.pk])
    client.post(url, form_data(committee.east))
    response = client.post(url, form_data(committee.east, topic="第二次"), follow=True)
    assert Meeting.objects.count() == 2
    assert "当天已登记过一次支委会" in response.content.decode()


def test_a_committee_meeting_without_quorum_is_flagged(committee, people, signed_in):
    absent = {f"present_{m.pk}": None for m in Member.objects.filter(name__in=["张二", "张三"])}
    reasons = {f"reason_{m.pk}": "official" for m in Member.objects.filter(name__in=["张二", "张三"])}
    response = signed_in(people.secretary).post(
        reverse("branches:meeting_add", args=[committee.east.pk]),
        form_data(committee.east, **absent, **reasons),
        follow=True,
    )
    assert Meeting.objects.count() == 1
    assert "半数以上委员到会" in response.content.decode()


def test_the_list_filters_by_type_period_and_text(committee, people, signed_in):
    client = signed_in(people.secretary)
    url = reverse("branches:meeting_add", args=[committee.east.pk])
    client.post(url, form_data(committee.east, topic="学习党章"))
    client.post(url, form_data(committee.east, meeting_type="theme_day", topic="志愿服务", minutes="打扫卫生"))
    listing = reverse("branches:meetings", args=[committee.east.pk])
    assert "学习党章" in client.get(listing, {"meeting_type": "committee_meeting"}).content.decode()
    assert "志愿服务" not in client.get(listing, {"meeting_type": "committee_meeting"}).content.decode()
    assert "志愿服务" in client.get(listing, {"q": "卫生"}).content.decode()
    assert "学习党章" not in client.get(listing, {"q": "卫生"}).content.decode()
    assert "学习党章" not in client.get(listing, {"period": "2001"}).content.decode()


def test_editing_and_deleting_are_audited_with_attendance(committee, people, signed_in):
    client = signed_in(people.secretary)
    client.post(reverse("branches:meeting_add", args=[committee.east.pk]), form_data(committee.east))
    meeting = Meeting.objects.get()
    zhang_er = Member.objects.get(name="张二")
    edit = form_data(
        committee.east,
        held_at=timezone.localtime(meeting.held_at).strftime("%Y-%m-%dT%H:%M"),
        **{f"present_{zhang_er.pk}": None, f"reason_{zhang_er.pk}": "personal"},
    )
    assert client.post(reverse("branches:meeting_edit", args=[meeting.pk]), edit).status_code == 302
    change = AuditEntry.objects.filter(object_pk=str(meeting.pk), additional_data__bulk=True).order_by("pk").last()
    assert "张二（事假）" in change.changes["attendance"][1]
    delete = reverse("branches:meeting_delete", args=[meeting.pk])
    assert client.post(delete, {}).status_code == 200  # asks to confirm first
    assert client.post(delete, {"confirm": "on"}).status_code == 302
    assert not Meeting.objects.exists()
    assert AuditEntry.objects.filter(object_pk=str(meeting.pk), action=AuditEntry.Action.DELETE).exists()


@pytest.mark.parametrize("history", [1, 25])
def test_the_secretarys_pages_take_a_fixed_number_of_queries(
    committee, people, signed_in, django_assert_max_num_queries, history
):
    for n in range(history):
        add_member(committee.east, f"新党员{n}")
    for n in range(history):
        Meeting.objects.create(
            organization=committee.east,
            meeting_type="theme_day",
            held_on=date(2026, 1 + n % 10, 5),
            held_at=timezone.now() - timedelta(days=30 + n),
            place="x",
            host="x",
            topic=f"t{n}",
            expected_count=3,
            present_count=3,
        )
    meeting = Meeting.objects.first()
    client = signed_in(people.secretary)
    for url, limit in (
        (reverse("branches:meetings_owed", args=[committee.east.pk]), 14),  # 2 for duties and rectifications
        (reverse("branches:meetings", args=[committee.east.pk]), 8),
        (reverse("branches:meeting", args=[meeting.pk]), 10),
        (reverse("branches:meeting_add", args=[committee.east.pk]), 8),
    ):
        with django_assert_max_num_queries(limit):
            assert client.get(url).status_code == 200, url


def test_the_reviewer_table_shows_each_branch_and_exports_it(committee, people, signed_in):
    client = signed_in(people.secretary)
    client.post(reverse("branches:meeting_add", args=[committee.east.pk]), form_data(committee.east))
    reviewer = signed_in(people.town_reviewer)
    url = reverse("branches:compliance", args=[committee.town.pk])
    page = reviewer.get(url).content.decode()
    assert "东村支部" in page and "南村支部" in page and "县财政局支部" not in page
    csv = reviewer.get(url, {"format": "csv"})
    assert csv["Content-Disposition"].startswith("attachment;")
    body = csv.content.decode("utf-8-sig")
    assert "东村支部" in body and "县财政局支部" not in body
    xlsx = reviewer.get(url, {"format": "xlsx"})
    assert xlsx.content[:2] == b"PK"
    assert reviewer.get(url, {"sector": "organ"}).content.decode().count("东村支部") == 0


def test_the_record_says_who_logged_it_and_who_corrected_it(committee, people, signed_in, make_user):
    client = signed_in(people.secretary)
    client.post(reverse("branches:meeting_add", args=[committee.east.pk]), form_data(committee.east))
    meeting = Meeting.objects.get()
    page = client.get(reverse("branches:meeting", args=[meeting.pk])).content.decode()
    assert "由 secretary 于" in page
    Meeting.objects.filter(pk=meeting.pk).update(
        updated_by=people.admin, updated_at=timezone.now() + timedelta(hours=1)
    )
    page = client.get(reverse("branches:meeting", args=[meeting.pk])).content.decode()
    assert "由 admin 于" in page and "最后修改" in page


@pytest.mark.parametrize("branches", [2, 30])
def test_the_reviewer_table_takes_a_fixed_number_of_queries(
    county, people, signed_in, django_assert_max_num_queries, branches
):
    for n in range(branches):
        branch = services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"Q-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
        add_member(branch, f"党员{n}")
        Meeting.objects.create(
            organization=branch,
            meeting_type="theme_day",
            held_at=timezone.now(),
            held_on=timezone.localdate(),
            place="x",
            host="x",
            topic="x",
            expected_count=1,
            present_count=1,
        )
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.root.pk])
    for query in ({}, {"period": str(timezone.localdate().year)}, {"format": "xlsx"}, {"sector": "village"}):
        # 10 + the header bell's unread count; a small subtree reads its columns and its rules apart (+1)
        with django_assert_max_num_queries(12):
            assert client.get(url, query).status_code == 200
    with django_assert_max_num_queries(12):  # committees, then the branches they stand for
        assert client.get(url, {"kind": "primary_committee"}).status_code == 200


def _meeting_data(meeting_type, held_at, **extra):
    return {"meeting_type": meeting_type, "held_at": held_at, "place": "村部", "host": "张一", "topic": "学习", **extra}


def test_a_committee_meeting_expects_the_committee_serving_on_its_day(county, people):
    """东村支部 on 1 June 2026: 张一 is secretary (since 2024); 张二 was organization member until
    the end of 2025; 王外 is a publicity member linked to no member; 张三 holds no post.
    Only 张一 is expected at that day's 支委会; everyone at that day's 主题党日."""
    zhang_yi, zhang_er = Member.objects.get(name="张一"), Member.objects.get(name="张二")
    for member, post, ended in ((zhang_yi, "secretary", None), (zhang_er, "organization_member", date(2025, 12, 31))):
        cadre = add_cadre(county.east, member.name, post, date(2024, 1, 1))
        cadre.member, cadre.term_end = member, ended
        cadre.save()
    add_cadre(county.east, "王外", "publicity_member", date(2024, 1, 1))
    held_at = timezone.make_aware(timezone.datetime(2026, 6, 1, 9, 0))
    everyone = {m.pk: (True, "") for m in services.selectors.members_on(county.east, date(2026, 6, 1))}
    assert len(everyone) == 3

    with pytest.raises(ValidationError) as refused:
        services.meeting_save(
            organization=county.east,
            data=_meeting_data("committee_meeting", held_at),
            attendance=everyone,
            by=people.secretary,
        )
    assert "张二" in refused.value.message_dict["attendance"][0]
    meeting, _warnings = services.meeting_save(
        organization=county.east,
        data=_meeting_data("committee_meeting", held_at),
        attendance={zhang_yi.pk: (True, "")},
        by=people.secretary,
    )
    assert (meeting.expected_count, meeting.present_count, meeting.attendance_rate) == (1, 1, 1.0)

    theme_day, _warnings = services.meeting_save(
        organization=county.east, data=_meeting_data("theme_day", held_at), attendance=everyone, by=people.secretary
    )
    assert theme_day.expected_count == 3


def test_a_party_group_meeting_expects_the_groups_members(county, people):
    """东村第一党小组 holds 张一 alone: its meeting expects one member, not the branch's three."""
    zhang_yi = Member.objects.get(name="张一")
    held_at = timezone.localtime() - timedelta(days=1)
    meeting, _warnings = services.meeting_save(
        organization=county.east,
        data=_meeting_data("group_meeting", held_at, party_group=county.group),
        attendance={zhang_yi.pk: (True, "")},
        by=people.secretary,
    )
    assert meeting.expected_count == 1


def test_the_form_lists_only_the_committee_for_a_committee_meeting(county, people, signed_in):
    zhang_yi = Member.objects.get(name="张一")
    cadre = add_cadre(county.east, "张一", "secretary", date(2024, 1, 1))
    cadre.member = zhang_yi
    cadre.save()
    client = signed_in(people.secretary)
    url = reverse("branches:meeting_add", args=[county.east.pk])
    page = client.get(url, {"meeting_type": "committee_meeting"}).content.decode()
    assert f"present_{zhang_yi.pk}" in page and "张二" not in page
    page = client.get(url, {"meeting_type": "theme_day"}).content.decode()
    assert "张二" in page


def test_a_full_or_read_only_disk_is_said_plainly_and_nothing_is_saved(
    committee, people, signed_in, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    data = form_data(committee.east)
    data["files"] = [upload("签到表.png", PNG)]
    full = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch.object(FileSystemStorage, "_save", side_effect=full):
        response = signed_in(people.secretary).post(reverse("branches:meeting_add", args=[committee.east.pk]), data)
    assert response.status_code == 200
    assert "文件未能保存：服务器磁盘已满或无法写入" in response.content.decode()
    assert not Meeting.objects.exists() and not Attachment.objects.exists()
