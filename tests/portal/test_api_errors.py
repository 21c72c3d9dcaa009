"""Every error the API answers is listed for its operation in docs/api/openapi.yaml, with the body it carries.

The bodies below are the real answers of the county of tests/conftest.py, checked against the committed schema.
"""

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings
from django.test import Client
from django.utils import timezone

from assessments.models import ItemStatus, ResponsibilityItem
from branches.models import Meeting, Member
from tests.portal.test_api import api, meeting_payload, post_json

SCHEMA = yaml.safe_load((Path(settings.BASE_DIR) / "docs/api/openapi.yaml").read_text())


def conforms(response, path, method):
    """The answer's status is listed for the operation, and its body is valid against the listed schema."""
    documented = SCHEMA["paths"][path][method]["responses"]
    code = str(response.status_code)
    assert code in documented, f"{method.upper()} {path} answers {code}, not in {sorted(documented)}"
    schema = documented[code]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": SCHEMA["components"]})
    return response.json()


def test_every_operation_lists_its_errors():
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "404", "429"} <= codes, (method, path)
            if method in ("post", "put", "patch"):
                assert {"400", "415"} <= codes, (method, path)
    assert "409" in SCHEMA["paths"]["/api/v1/duties/{id}/complete/"]["post"]["responses"]
    assert set(SCHEMA["components"]["schemas"]["Error"]["required"]) == {"detail"}


def test_401_403_404_bodies_are_the_documented_error(county, people):
    body = conforms(Client().get("/api/v1/meetings/"), "/api/v1/meetings/", "get")
    assert body == {"detail": "身份认证信息未提供。"}
    body = conforms(api(plain="abc.def").get("/api/v1/members/"), "/api/v1/members/", "get")
    assert body == {"detail": "API 令牌无效。"}
    response = post_json(api(people.town_reviewer), "/api/v1/meetings/", meeting_payload(county.east))
    assert conforms(response, "/api/v1/meetings/", "post") == {"detail": "您没有执行该操作的权限。"}
    other = Member.objects.get(name="王一")
    response = api(people.secretary).get(f"/api/v1/members/{other.pk}/")
    assert conforms(response, "/api/v1/members/{id}/", "get") == {"detail": "未找到。"}
    response = api(people.secretary).get("/api/v1/meetings/", {"cursor": "not-a-cursor"})
    assert "detail" in conforms(response, "/api/v1/meetings/", "get")


def test_400_bodies_give_chinese_messages_by_field(county, people):
    client = api(people.secretary)
    payload = meeting_payload(county.east)
    payload["attendance"][0]["absence_reason"] = "no-such-reason"
    payload["attendance"].append(payload["attendance"][0])
    body = conforms(post_json(client, "/api/v1/meetings/", payload), "/api/v1/meetings/", "post")
    assert list(body) == ["attendance"]
    body = conforms(
        post_json(client, "/api/v1/meetings/", {"organization": county.east.pk}), "/api/v1/meetings/", "post"
    )
    assert body["topic"] == ["该字段是必填项。"]
    response = client.post("/api/v1/meetings/", "{not json", content_type="application/json")
    body = conforms(response, "/api/v1/meetings/", "post")
    assert list(body) == ["non_field_errors"] and "JSON" in body["non_field_errors"][0]
    response = client.get("/api/v1/meetings/", {"held_from": "昨天"})
    assert "held_from" in conforms(response, "/api/v1/meetings/", "get")
    response = client.get("/api/v1/compliance/", {"period": "2026-Q9"})
    assert response.status_code in (400, 403)
    conforms(response, "/api/v1/compliance/", "get")
    assert not Meeting.objects.exists()


def test_415_for_a_body_in_another_format(county, people):
    response = api(people.secretary).post("/api/v1/meetings/", "<meeting/>", content_type="application/xml")
    assert "detail" in conforms(response, "/api/v1/meetings/", "post")


@pytest.fixture
def open_duty(county):
    from assessments import services
    from tests.conftest import system

    return services.item_add(
        organization=county.east,
        year=timezone.localdate().year,
        data={"area": "ideological", "text": "开展警示教育一次", "due_on": timezone.localdate() + timedelta(days=20)},
        by=system(),
    )


def test_a_stale_version_is_409_and_changes_nothing(county, people, open_duty):
    duty = open_duty
    client = api(people.secretary)
    url = f"/api/v1/duties/{duty.pk}/complete/"
    path = "/api/v1/duties/{id}/complete/"
    assert post_json(client, url, {"version": duty.version, "note": "已开展"}).status_code == 200
    response = post_json(client, url, {"version": duty.version, "note": "再次"})
    assert response.status_code == 409
    assert "刷新" in conforms(response, path, "post")["detail"]
    assert ResponsibilityItem.objects.get().evidence_note == "已开展"
    assert ResponsibilityItem.objects.get().status == ItemStatus.DONE


def test_429_body_is_the_documented_error(people, settings):
    settings.API_RATE = "1/min"
    client = api(people.secretary)
    assert client.get("/api/v1/organizations/").status_code == 200
    response = client.get("/api/v1/organizations/")
    assert "限流" in conforms(response, "/api/v1/organizations/", "get")["detail"]
    documented = SCHEMA["paths"]["/api/v1/organizations/"]["get"]["responses"]["429"]["headers"]
    assert int(response[next(iter(documented))]) > 0


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_served_schema_lists_the_errors_in_the_callers_language(people, language):
    served = yaml.safe_load(api(people.secretary, HTTP_ACCEPT_LANGUAGE=language).get("/api/schema/").content)
    description = served["paths"]["/api/v1/meetings/"]["get"]["responses"]["401"]["description"]
    assert description == (
        "No token, or a token that is wrong, expired or revoked."
        if language == "en"
        else "未提供令牌，或令牌错误、已过期、已撤销。"
    )
    assert json.dumps(served["components"]["schemas"]["ValidationError"])


def test_an_unknown_api_address_answers_json_and_a_page_the_404_page(people, signed_in):
    response = api(people.secretary).get("/api/v1/meetings/abc/")
    assert response.status_code == 404 and response.json() == {"detail": "未找到。"}
    assert Client().get("/api/v1/nothing-here/").json() == {"detail": "未找到。"}
    page = signed_in(people.secretary).get("/orgs/nothing-here/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_ids_in_paths_are_integers():
    for path, operations in SCHEMA["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "path":
                    assert parameter["schema"] == {"type": "integer"}, (path, parameter["name"])
