"""Each call made with an API token is kept (when, method, path, answer, address) and shown to the token's owner
and to the admin who oversees it, never to anyone else; old calls are pruned by a nightly job."""

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from branches.models import Role
from portal import services, tasks
from portal.models import ApiToken, ApiTokenUse


def make_token(user, name):
    _token, plain = services.api_token_create(by=user, name=name, expires_on=timezone.localdate() + timedelta(days=30))
    return plain


def api(plain):
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def calls():
    return list(ApiTokenUse.objects.order_by("pk").values_list("method", "path", "status", "address"))


def test_each_call_is_recorded_with_its_answer_and_shown_to_the_owner(people, signed_in):
    client = api(make_token(people.secretary, "档案系统"))
    assert client.get("/api/v1/meetings/?type=theme_day").status_code == 200
    assert client.get("/api/v1/meetings/999999/").status_code == 404
    assert client.post("/api/v1/meetings/", "{}", content_type="application/json").status_code == 400
    assert calls() == [
        ("GET", "/api/v1/meetings/?type=theme_day", 200, "127.0.0.1"),
        ("GET", "/api/v1/meetings/999999/", 404, "127.0.0.1"),
        ("POST", "/api/v1/meetings/", 400, "127.0.0.1"),
    ]
    page = signed_in(people.secretary).get(reverse("api_tokens"))
    assert [use.path for use in page.context["uses"]] == [
        "/api/v1/meetings/",
        "/api/v1/meetings/999999/",
        "/api/v1/meetings/?type=theme_day",
    ]
    html = page.content.decode()
    assert "最近调用" in html and "GET /api/v1/meetings/?type=theme_day" in html and "档案系统" in html


def test_refused_calls_of_a_real_token_are_kept_once_a_minute_and_a_wrong_secret_not_at_all(people, settings):
    """Expired, revoked or over its budget: the owner must learn that a system still calls, but a client looping
    on the refusal writes one row a minute, not one per attempt. A wrong secret is no use of the token."""
    settings.API_RATE = "2/min"
    plain = make_token(people.secretary, "对接系统")
    client = api(plain)
    assert [client.get("/api/v1/organizations/").status_code for _ in range(4)] == [200, 200, 429, 429]
    assert [status for _m, _p, status, _a in calls()] == [200, 200, 429]

    prefix = plain.split(".", 1)[0]
    assert api(f"{prefix}.not-the-secret").get("/api/v1/organizations/").status_code == 401
    assert ApiTokenUse.objects.count() == 3

    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert [client.get("/api/v1/members/").status_code for _ in range(3)] == [401, 401, 401]
    assert calls()[3:] == [("GET", "/api/v1/members/", 401, "127.0.0.1")]


def test_nobody_else_sees_a_tokens_calls(people, make_user, county, signed_in):
    """The town's admin sees the calls of the 东村 secretary's token (all her roles lie in the town), not those of
    the finance bureau's secretary; neither secretary sees the other's."""
    town_admin = make_user("town_admin", Role.ADMIN, county.town)
    api(make_token(people.secretary, "东村系统")).get("/api/v1/members/")
    api(make_token(people.finance_secretary, "财政系统")).get("/api/v1/organizations/")

    mine = signed_in(people.secretary).get(reverse("api_tokens"))
    assert [use.token.name for use in mine.context["uses"]] == ["东村系统"]
    assert "财政系统" not in mine.content.decode()
    theirs = signed_in(people.finance_secretary).get(reverse("api_tokens"))
    assert [use.token.name for use in theirs.context["uses"]] == ["财政系统"]

    overseen = signed_in(town_admin).get(reverse("api_tokens_administered"))
    assert [(use.token.user.username, use.path) for use in overseen.context["uses"]] == [
        ("secretary", "/api/v1/members/")
    ]
    html = overseen.content.decode()
    assert "GET /api/v1/members/" in html and "/api/v1/organizations/" not in html
    everything = signed_in(people.admin).get(reverse("api_tokens_administered"))
    assert {use.token.name for use in everything.context["uses"]} == {"东村系统", "财政系统"}


def test_calls_older_than_the_retention_are_pruned_by_the_nightly_job(people, settings):
    settings.API_TOKEN_USE_DAYS = 30
    make_token(people.secretary, "对接系统")
    token = ApiToken.objects.get()
    now = timezone.now()
    for days in (31, 29, 0):
        ApiTokenUse.objects.create(
            token=token, at=now - timedelta(days=days), method="GET", path=f"/{days}/", status=200
        )
    assert tasks.prune_api_token_uses() == {"deleted": 1}
    assert sorted(ApiTokenUse.objects.values_list("path", flat=True)) == ["/0/", "/29/"]
    assert tasks.prune_api_token_uses() == {"deleted": 0}
