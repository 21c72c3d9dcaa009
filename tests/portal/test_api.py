"""The API (/api/v1/): a personal token reads exactly what its owner sees and writes through the pages' services.

The county of tests/conftest.py: the secretary of 东村支部 (东村: 张一, 张二, 张三), the town reviewer of
中共东镇委员会 (东村 and 南村), the secretary of 县财政局支部 (outside the town).
"""

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assessments.models import Finding, Inspection, ItemStatus, ResponsibilityItem, ResponsibilityList
from branches.models import Attachment, AuditEntry, Meeting, Member, RoleAssignment
from portal import services
from portal.models import ApiToken
from tests.portal.test_hardening import PNG


def token_for(user, days=30):
    _token, plain = services.api_token_create(
        by=user, name="对接系统", expires_on=timezone.localdate() + timedelta(days)
    )
    return plain


def api(user=None, plain=None, **headers):
    """A client that speaks to the API with a Bearer token, as another system would (no session, no cookies)."""
    plain = plain or token_for(user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}", **headers)


def results(response):
    assert response.status_code == 200, response.content.decode()
    return response.json()["results"]


def meeting_payload(branch, **overrides):
    now = timezone.localtime()
    when = now - timedelta(days=1)
    if when.month != now.month:  # on a month's first day: still this month, so this month's figures count it
        when = now.replace(hour=0, minute=0, second=0, microsecond=0)
    members = Member.objects.filter(organization=branch).order_by("pk")
    payload = {
        "organization": branch.pk,
        "meeting_type": "theme_day",
        "held_at": when.isoformat(),
        "place": "村部会议室",
        "host": "张一",
        "topic": "主题党日：学习新党章",
        "minutes": "全体党员参加。",
        "attendance": [{"member": m.pk, "present": True} for m in members],
    }
    payload.update(overrides)
    return payload


def post_json(client, url, payload, method="post"):
    return getattr(client, method)(url, json.dumps(payload), content_type="application/json")


# --- tokens ------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_kept_only_as_a_hash(people, signed_in):
    client = signed_in(people.secretary)
    page = reverse("api_tokens")
    until = (timezone.localdate() + timedelta(days=90)).isoformat()
    response = client.post(page, {"name": "档案系统", "expires_on": until})
    assert response.status_code == 200
    token = ApiToken.objects.get()
    plain = response.context["plain"]
    assert plain.startswith(token.prefix + ".") and plain in response.content.decode()
    assert token.secret_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in json.dumps(list(ApiToken.objects.values()), default=str)
    again = client.get(page).content.decode()
    assert "档案系统" in again and plain not in again
    assert api(plain=plain).get("/api/v1/organizations/").status_code == 200


def test_a_token_lasts_at_most_a_year(people, signed_in):
    client = signed_in(people.secretary)
    too_far = (timezone.localdate() + timedelta(days=366)).isoformat()
    response = client.post(reverse("api_tokens"), {"name": "档案系统", "expires_on": too_far})
    assert "最长" in response.content.decode() or "365" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_an_expired_or_revoked_token_is_refused_with_a_chinese_message(people, signed_in):
    plain = token_for(people.secretary)
    token = ApiToken.objects.get()
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(plain=plain).get("/api/v1/meetings/")
    assert response.status_code == 401
    assert response.json()["detail"] == "API 令牌已过期。"
    assert response["WWW-Authenticate"].startswith("Bearer")

    plain = token_for(people.secretary)
    client = signed_in(people.secretary)
    fresh = ApiToken.objects.get(revoked_at=None, expires_at__gt=timezone.now())
    confirm = client.get(reverse("api_token_revoke", args=[fresh.pk]))
    assert confirm.status_code == 200 and "对接系统" in confirm.content.decode()
    assert client.post(reverse("api_token_revoke", args=[fresh.pk]), {}).status_code == 200  # not confirmed
    assert api(plain=plain).get("/api/v1/meetings/").status_code == 200
    assert client.post(reverse("api_token_revoke", args=[fresh.pk]), {"confirm": "on"}).status_code == 302
    response = api(plain=plain).get("/api/v1/meetings/")
    assert response.status_code == 401 and response.json()["detail"] == "API 令牌已被撤销。"
    assert AuditEntry.objects.filter(object_pk=str(fresh.pk), content_type__model="apitoken").count() == 2


def test_a_wrong_token_and_no_token_answer_401_in_json(people):
    response = api(plain="abc.def").get("/api/v1/organizations/")
    assert response.status_code == 401 and response.json()["detail"] == "API 令牌无效。"
    response = Client().get("/api/v1/organizations/")
    assert response.status_code == 401 and response.json()["detail"] == "身份认证信息未提供。"


def test_a_person_cannot_revoke_anothers_token(people, signed_in):
    token_for(people.finance_secretary)
    other = ApiToken.objects.get()
    client = signed_in(people.secretary)
    assert client.post(reverse("api_token_revoke", args=[other.pk]), {"confirm": "on"}).status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_an_admin_sees_and_revokes_the_tokens_of_the_people_in_their_subtree_only(people, make_user, county, signed_in):
    """The town's admin sees the 东村 secretary's token (all her roles are in the town), not the finance bureau's
    secretary's, nor that of a reviewer who also reviews outside the town; revoking one stops it at once."""
    from branches.models import Role  # noqa: PLC0415

    town_admin = make_user("town_admin", Role.ADMIN, county.town)
    token_for(people.secretary)
    token_for(people.finance_secretary)
    token_for(people.town_reviewer)  # her only role is in the town
    mixed = make_user("mixed", Role.REVIEWER, county.town)
    RoleAssignment.objects.create(user=mixed, organization=county.finance, role=Role.REVIEWER)
    token_for(mixed)
    client = signed_in(town_admin)
    page = client.get(reverse("api_tokens_administered"))
    listed = {token.user.username for token in page.context["page"]}
    assert listed == {"secretary", "town_reviewer"}
    outside = ApiToken.objects.get(user=people.finance_secretary)
    assert client.post(reverse("api_token_revoke", args=[outside.pk]), {"confirm": "on"}).status_code == 404
    with pytest.raises(PermissionDenied):
        services.api_token_revoke(token=ApiToken.objects.get(user=mixed), by=town_admin)
    hers = ApiToken.objects.get(user=people.secretary)
    response = client.post(reverse("api_token_revoke", args=[hers.pk]), {"confirm": "on"})
    assert response.status_code == 302 and response.url == reverse("api_tokens_administered")
    assert ApiToken.objects.get(pk=hers.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=outside.pk).revoked_at is None
    assert signed_in(people.reviewer).get(reverse("api_tokens_administered")).status_code == 404


def test_english_is_given_to_a_system_that_asks_for_it(people):
    response = api(plain="abc.def", HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/organizations/")
    assert response.json()["detail"] == "The API token is not valid."


# --- reading -----------------------------------------------------------------------------


def test_a_secretary_lists_only_its_branch(county, people):
    client = api(people.secretary)
    codes = [row["code"] for row in results(client.get("/api/v1/organizations/"))]
    assert codes == ["T-E-1", "T-E-1-G1"]
    names = {row["name"] for row in results(client.get("/api/v1/members/"))}
    assert names == {"张一", "张二", "张三"}


def test_a_reviewer_reads_the_tree_of_its_subtree(county, people):
    rows = results(api(people.town_reviewer).get("/api/v1/organizations/", {"kind": "branch"}))
    assert [(r["code"], r["parent_code"], r["depth"]) for r in rows] == [("T-E-1", "T-E", 3), ("T-E-2", "T-E", 3)]
    under = results(api(people.reviewer).get("/api/v1/organizations/", {"under": "T-J"}))
    assert [r["code"] for r in under] == ["T-J", "T-J-1"]


def test_members_carry_their_member_id(county, people):
    zhang_yi = Member.objects.get(name="张一")
    client = api(people.secretary)
    row = client.get(f"/api/v1/members/{zhang_yi.pk}/").json()
    assert row["number"] == zhang_yi.number and row["number"]
    assert [r["name"] for r in results(client.get("/api/v1/members/", {"number": zhang_yi.number}))] == ["张一"]
    wang_yi = Member.objects.get(name="王一")  # another branch's member: not found by its ID either
    assert results(client.get("/api/v1/members/", {"number": wang_yi.number})) == []


def test_a_secretary_cannot_read_another_branchs_records_by_guessing_ids(county, people):
    finance_member = Member.objects.get(name="王一")
    client = api(people.secretary)
    assert client.get(f"/api/v1/members/{finance_member.pk}/").status_code == 404
    assert client.get(f"/api/v1/organizations/{county.finance.pk}/").status_code == 404
    assert client.get(f"/api/v1/members/{Member.objects.get(name='张一').pk}/").status_code == 200
    assert client.get(f"/api/v1/members/{finance_member.pk}/").json() == {"detail": "未找到。"}


# --- writing meetings ---------------------------------------------------------------------


def test_a_reviewer_reads_meetings_but_cannot_log_one(county, people):
    client = api(people.town_reviewer)
    assert client.get("/api/v1/meetings/").status_code == 200
    response = post_json(client, "/api/v1/meetings/", meeting_payload(county.east))
    assert response.status_code == 403
    assert response.json() == {"detail": "您没有执行该操作的权限。"}
    assert not Meeting.objects.exists()


def test_logging_a_meeting_by_api_makes_what_the_page_makes(county, people, signed_in):
    """The same meeting logged on the page and by the API: the same attendance, counts and audit entries."""
    zhang_san = Member.objects.get(name="张三")
    absent = {"member": zhang_san.pk, "present": False, "absence_reason": "sick"}
    payload = meeting_payload(county.east)
    payload["attendance"] = [row if row["member"] != zhang_san.pk else absent for row in payload["attendance"]]
    response = post_json(api(people.secretary), "/api/v1/meetings/", payload)
    assert response.status_code == 201, response.content.decode()
    body = response.json()
    assert (body["expected_count"], body["present_count"], body["warnings"]) == (3, 2, [])
    by_api = Meeting.objects.get(pk=body["id"])

    page = signed_in(people.secretary)
    form = {k: v for k, v in payload.items() if k not in ("organization", "attendance")}
    form["held_at"] = timezone.localtime(by_api.held_at).strftime("%Y-%m-%dT%H:%M")
    for row in payload["attendance"]:
        if row["present"]:
            form[f"present_{row['member']}"] = "on"
        form[f"reason_{row['member']}"] = row.get("absence_reason", "")
    assert page.post(reverse("branches:meeting_add", args=[county.east.pk]), form).status_code == 302
    by_page = Meeting.objects.exclude(pk=by_api.pk).get()

    def made(meeting):
        entries = AuditEntry.objects.filter(object_pk=str(meeting.pk), content_type__model="meeting")
        return (
            meeting.logged_by,
            meeting.expected_count,
            meeting.present_count,
            sorted(meeting.attendance.values_list("member_id", "present", "absence_reason")),
            sorted((e.action, e.actor_id) for e in entries),
        )

    assert made(by_api) == made(by_page)
    assert made(by_api)[0] == people.secretary and made(by_api)[4]


def test_bad_input_gives_400_with_chinese_messages_by_field_and_writes_nothing(county, people):
    client = api(people.secretary)
    payload = meeting_payload(county.east, place="")
    payload["attendance"] = payload["attendance"][:1]  # two expected members left out
    response = post_json(client, "/api/v1/meetings/", payload)
    assert response.status_code == 400
    assert "出席" in response.json()["attendance"][0] or "缺少" in response.json()["attendance"][0]
    future = meeting_payload(county.east, held_at=(timezone.now() + timedelta(days=2)).isoformat())
    response = post_json(client, "/api/v1/meetings/", future)
    assert response.status_code == 400 and list(response.json()) == ["held_at"]
    response = post_json(client, "/api/v1/meetings/", {"organization": county.east.pk})
    assert response.status_code == 400 and response.json()["topic"] == ["该字段是必填项。"]
    assert not Meeting.objects.exists()


def test_a_secretary_cannot_write_another_branchs_meetings_by_guessing_ids(county, people):
    finance = api(people.finance_secretary)
    response = post_json(finance, "/api/v1/meetings/", meeting_payload(county.finance))
    assert response.status_code == 201
    theirs = response.json()["id"]
    client = api(people.secretary)
    assert post_json(client, "/api/v1/meetings/", meeting_payload(county.finance)).status_code == 404
    assert post_json(client, f"/api/v1/meetings/{theirs}/", {"topic": "篡改"}, method="patch").status_code == 404
    assert client.get(f"/api/v1/meetings/{theirs}/").status_code == 404
    assert Meeting.objects.count() == 1 and Meeting.objects.get().topic == "主题党日：学习新党章"
    assert [m["id"] for m in results(client.get("/api/v1/meetings/"))] == []


def test_a_secretary_corrects_a_meeting_and_the_trail_keeps_both_versions(county, people):
    client = api(people.secretary)
    created = post_json(client, "/api/v1/meetings/", meeting_payload(county.east)).json()
    zhang_er = Member.objects.get(name="张二")
    attendance = [
        {**row, "present": False, "absence_reason": "official"} if row["member"] == zhang_er.pk else row
        for row in created["attendance"]
    ]
    response = post_json(
        client, f"/api/v1/meetings/{created['id']}/", {"topic": "更正后的议题", "attendance": attendance}, "patch"
    )
    assert response.status_code == 200, response.content.decode()
    assert (response.json()["topic"], response.json()["present_count"]) == ("更正后的议题", 2)
    meeting = Meeting.objects.get()
    assert meeting.place == "村部会议室" and meeting.updated_by == people.secretary
    assert AuditEntry.objects.filter(object_pk=str(meeting.pk), content_type__model="meeting", action=1).exists()


def test_meetings_filter_by_type_and_date(county, people):
    client = api(people.secretary)
    post_json(client, "/api/v1/meetings/", meeting_payload(county.east))
    week_ago = (timezone.localtime() - timedelta(days=7)).isoformat()
    post_json(client, "/api/v1/meetings/", meeting_payload(county.east, meeting_type="party_lecture", held_at=week_ago))
    assert len(results(client.get("/api/v1/meetings/", {"type": "party_lecture"}))) == 1
    since = (timezone.localdate() - timedelta(days=3)).isoformat()
    rows = results(client.get("/api/v1/meetings/", {"held_from": since}))
    assert [r["meeting_type"] for r in rows] == ["theme_day"]
    rows = results(client.get("/api/v1/meetings/", {"ordering": "held_at"}))
    assert [r["meeting_type"] for r in rows] == ["party_lecture", "theme_day"]


# --- duties and findings -----------------------------------------------------------------


@pytest.fixture
def duty(county):
    from assessments import services as duty_services
    from tests.conftest import system

    return duty_services.item_add(
        organization=county.east,
        year=timezone.localdate().year,
        data={"area": "ideological", "text": "开展警示教育一次", "due_on": timezone.localdate() + timedelta(days=20)},
        by=system(),
    )


def test_a_secretary_completes_a_duty_with_a_meeting(county, people, duty):
    client = api(people.secretary)
    meeting = post_json(client, "/api/v1/meetings/", meeting_payload(county.east)).json()
    url = f"/api/v1/duties/{duty.pk}/complete/"
    response = post_json(client, url, {"version": duty.version, "meeting": meeting["id"]})
    assert response.status_code == 200, response.content.decode()
    assert response.json()["status"] == "done" and response.json()["evidence_meeting"] == meeting["id"]
    stale = post_json(client, url, {"version": duty.version, "note": "再次"})
    assert stale.status_code == 409 and "刷新" in stale.json()["detail"]


def test_a_secretary_completes_a_duty_with_a_file(county, people, duty, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api(people.secretary)
    response = client.post(
        f"/api/v1/duties/{duty.pk}/complete/",
        {"version": duty.version, "file": SimpleUploadedFile("签到表.png", PNG, content_type="image/png")},
    )
    assert response.status_code == 200, response.content.decode()
    duty.refresh_from_db()
    assert duty.status == ItemStatus.DONE and duty.evidence_file.original_name == "签到表.png"
    assert Attachment.objects.get().uploaded_by == people.secretary


def test_duty_evidence_is_required_and_a_reviewer_cannot_complete(county, people, duty):
    response = post_json(api(people.secretary), f"/api/v1/duties/{duty.pk}/complete/", {"version": duty.version})
    assert response.status_code == 400 and list(response.json()) == ["note"]
    response = post_json(api(people.town_reviewer), f"/api/v1/duties/{duty.pk}/complete/", {"version": 1, "note": "x"})
    assert response.status_code == 403
    response = post_json(
        api(people.finance_secretary), f"/api/v1/duties/{duty.pk}/complete/", {"version": 1, "note": "x"}
    )
    assert response.status_code == 404
    assert ResponsibilityItem.objects.get().status == ItemStatus.OPEN


def test_a_meeting_of_another_branch_is_no_evidence(county, people, duty):
    finance = post_json(api(people.finance_secretary), "/api/v1/meetings/", meeting_payload(county.finance)).json()
    response = post_json(
        api(people.secretary), f"/api/v1/duties/{duty.pk}/complete/", {"version": 1, "meeting": finance["id"]}
    )
    assert response.status_code == 400 and list(response.json()) == ["meeting"]


def test_duties_and_findings_are_read_within_the_subtree(county, people, duty):
    inspection = Inspection.objects.create(organization=county.finance, held_on="2026-09-01", title="督查")
    Finding.objects.create(
        inspection=inspection,
        organization=county.finance,
        description="问题",
        required_rectification="整改",
        deadline="2026-12-31",
    )
    assert [d["text"] for d in results(api(people.town_reviewer).get("/api/v1/duties/"))] == ["开展警示教育一次"]
    assert results(api(people.town_reviewer).get("/api/v1/findings/")) == []
    rows = results(api(people.reviewer).get("/api/v1/findings/", {"under": "T-J"}))
    assert [(r["description"], r["organization"]["code"]) for r in rows] == [("问题", "T-J-1")]
    assert ResponsibilityList.objects.count() == 1


# --- pages, throttling, query counts, compliance -------------------------------------------------


def grow(county, branches, prefix="G", meetings_each=1):
    """`branches` more villages under the town, each with members, meetings and a duty (written directly:
    the counts are what matter here)."""
    from branches import services as branch_services
    from tests.conftest import add_member, system

    for n in range(branches):
        branch = branch_services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"{prefix}-{n}", "name": f"{prefix}村{n}支部", "sector": "village"},
            by=system(),
        )
        members = [add_member(branch, f"成员{prefix}{n}-{m}") for m in range(3)]
        for k in range(meetings_each):
            held_at = timezone.now() - timedelta(days=k + 1)
            meeting = Meeting.objects.create(
                organization=branch,
                meeting_type="theme_day",
                held_at=held_at,
                held_on=timezone.localtime(held_at).date(),
                place="x",
                host="x",
                topic=f"议题{k}",
                expected_count=3,
                present_count=3,
            )
            for member in members:
                meeting.attendance.create(member=member, present=True)
        own = ResponsibilityList.objects.create(organization=branch, year=2026, title="自定")
        ResponsibilityItem.objects.create(
            responsibility_list=own, organization=branch, area="ideological", text="学习", due_on="2026-12-31"
        )
        inspection = Inspection.objects.create(organization=branch, held_on="2026-09-01", title="督查")
        Finding.objects.create(
            inspection=inspection,
            organization=branch,
            description="问题",
            required_rectification="整改",
            deadline="2026-12-31",
        )


def test_lists_page_by_cursor_without_losing_or_repeating_rows(county, people):
    grow(county, 7)
    client = api(people.town_reviewer)
    seen, url = [], "/api/v1/meetings/?page_size=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        assert url is None or "cursor=" in url
    assert sorted(seen) == sorted(Meeting.objects.values_list("pk", flat=True)) and len(seen) == 7


def test_a_token_that_calls_too_often_is_told_to_wait(people, settings):
    settings.API_RATE = "3/min"
    client = api(people.secretary)
    statuses = [client.get("/api/v1/organizations/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/organizations/")
    assert "限流" in response.json()["detail"] and int(response["Retry-After"]) > 0
    assert api(people.town_reviewer).get("/api/v1/organizations/").status_code == 200  # its own budget


LISTS = [
    "/api/v1/organizations/",
    "/api/v1/members/",
    "/api/v1/meetings/",
    "/api/v1/duties/",
    "/api/v1/findings/",
    "/api/v1/compliance/?period=2026-Q4",
    "/api/v1/compliance/?period=2026&kind=primary_committee",
]


@pytest.mark.parametrize("url", LISTS)
def test_a_list_takes_the_same_queries_for_few_rows_and_many(county, people, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(people.town_reviewer)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, response.content.decode()
        return len(captured), len(response.json()["results"])

    grow(county, 1, "G")
    client.get("/api/v1/organizations/")  # the token's first use of the minute notes last_used_at
    few, rows_few = queries()
    grow(county, 8, "H", meetings_each=2)
    many, rows_many = queries()
    assert (many, rows_many > rows_few or "primary_committee" in url) == (few, True)


def test_a_page_of_meetings_gives_attendance_as_counts_and_a_meeting_lists_who_attended(county, people):
    """A page of meetings reads no attendance rows: the same queries for 1 meeting and for 19 with 3 members
    each; the meeting itself lists each member expected."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(people.town_reviewer)
    client.get("/api/v1/organizations/")  # the token's first use of the minute notes last_used_at

    def page():
        with CaptureQueriesContext(connection) as captured:
            rows = results(client.get("/api/v1/meetings/", {"page_size": 100}))
        return rows, [query["sql"] for query in captured]

    grow(county, 1, "G")
    few, few_sql = page()
    grow(county, 6, "H", meetings_each=3)
    many, many_sql = page()
    assert (len(few), len(many)) == (1, 19) and len(few_sql) == len(many_sql)
    assert not [sql for sql in many_sql if "branches_attendance" in sql]
    assert len(many_sql) == 4  # the token, its owner's roles (the scope), the page of meetings, the use recorded
    assert "attendance" not in many[0] and (many[0]["expected_count"], many[0]["present_count"]) == (3, 3)
    one = client.get(f"/api/v1/meetings/{many[0]['id']}/").json()
    assert one["present_count"] == 3 and [row["present"] for row in one["attendance"]] == [True, True, True]


def test_compliance_reads_as_the_reviewers_table(county, people, signed_in):
    post_json(api(people.secretary), "/api/v1/meetings/", meeting_payload(county.east))
    month = timezone.localdate().strftime("%Y-%m")
    body = api(people.town_reviewer).get("/api/v1/compliance/", {"period": month}).json()
    assert (body["period"], body["under"]) == (month, "T-E")
    rows = {row["organization"]["code"]: row for row in body["results"]}
    assert list(rows) == ["T-E-1", "T-E-2"]
    theme_day = {s["meeting_type"]: s for s in rows["T-E-1"]["statuses"]}["theme_day"]
    assert (theme_day["held"], theme_day["required"], theme_day["state"]) == (1, 1, "met")
    assert {s["meeting_type"]: s for s in rows["T-E-2"]["statuses"]}["theme_day"]["held"] == 0
    page = signed_in(people.town_reviewer).get(reverse("branches:compliance", args=[county.town.pk]), {"period": month})
    on_page = {row.organization.code: row for row in page.context["page"]}
    assert on_page["T-E-1"].status("theme_day").held == theme_day["held"]

    town = api(people.town_reviewer).get("/api/v1/compliance/", {"period": month, "kind": "primary_committee"})
    summary = {s["meeting_type"]: s for s in town.json()["results"][0]["statuses"]}["theme_day"]
    assert (summary["held"], summary["required"]) == (1, 2)  # one of its two branches meets the rule


def test_compliance_is_for_reviewers_of_the_subtree_and_tells_a_wrong_period(county, people):
    assert api(people.secretary).get("/api/v1/compliance/").status_code == 403
    assert api(people.town_reviewer).get("/api/v1/compliance/", {"under": "T-J"}).status_code == 404
    response = api(people.town_reviewer).get("/api/v1/compliance/", {"period": "2026-Q5"})
    assert response.status_code == 400 and "季度" in response.json()["period"][0]


# --- the schema and its reference page ------------------------------------------------------------

SCHEMA = "docs/api/openapi.yaml"
REGENERATE = f"python manage.py spectacular --lang en --validate --file {SCHEMA}"


def test_the_committed_schema_is_the_one_the_code_makes(tmp_path):
    """A change to the API is a reviewed diff of docs/api/openapi.yaml; regenerate it with REGENERATE."""
    from pathlib import Path

    from django.conf import settings
    from django.core.management import call_command

    made = tmp_path / "openapi.yaml"
    call_command("spectacular", "--lang", "en", "--validate", "--fail-on-warn", "--file", str(made))
    committed = (Path(settings.BASE_DIR) / SCHEMA).read_text()
    assert made.read_text() == committed, f"the API changed: run `{REGENERATE}` and commit the diff"


def test_the_schema_is_served_to_a_token_and_to_a_signed_in_browser(people, signed_in):
    import yaml

    schema = yaml.safe_load(api(people.secretary).get("/api/schema/").content)
    assert "/api/v1/meetings/" in schema["paths"] and "personalToken" in schema["components"]["securitySchemes"]
    assert signed_in(people.secretary).get("/api/schema/").status_code == 200
    assert Client().get("/api/schema/").status_code == 401
