"""The API (/api/v1/): a personal token reads exactly what its owner sees and writes through the pages' services.

The county of tests/conftest.py: the secretary of 东村支部 (东村: 张一, 张二, 张三), the town reviewer of
中共东镇委员会 (东村 and 南村), the secretary of 县财政局支部 (outside the town).
"""

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assessments.models import ItemStatus, ResponsibilityItem, ResponsibilityList
from branches.models import Attachment, AuditEntry, Meeting, Member
from portal import services
from portal.models import ApiToken
from tests.portal.test_hardening import PNG


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def token_for(user, days=30):
    _token, plain = services.api_token_create(by=user, name="对接系统", expires_on=timezone.localdate() + timedelta(days))
    return plain


def api(user=None, plain=None, **headers):
    """A client that speaks to the API with a Bearer token, as another system would (no session, no cookies)."""
    plain = plain or token_for(user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}", **headers)


def results(response):
    assert response.status_code == 200, response.content.decode()
    return response.json()["results"]


def meeting_payload(branch, **overrides):
    when = timezone.localtime() - timedelta(days=1)
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


def test_a_secretary_cannot_read_another_branchs_records_by_guessing_ids(county, people):
    finance_member = Member.objects.get(name="王一")
    client = api(people.secretary)
    assert client.get(f"/api/v1/members/{finance_member.pk}/").status_code == 404
    assert client.get(f"/api/v1/organizations/{county.finance.pk}/").status_code == 404
    assert client.get(f"/api/v1/members/{Member.objects.get(name='张一').pk}/").status_code == 200
    assert client.get(f"/api/v1/members/{finance_member.pk}/").json() == {"detail": "未找到。"}
