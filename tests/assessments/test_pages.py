"""The pages of duties and findings: issuing, the three lists, the to-do, and their bounds."""

from datetime import date

import pytest
from django.urls import reverse

from assessments import services
from assessments.models import ResponsibilityItem, ResponsibilityList
from branches import services as branch_services
from tests.conftest import system


def test_a_reviewer_issues_a_list_once_through_the_page(county, people, signed_in, template):
    client = signed_in(people.reviewer)
    url = reverse("assessments:issue", args=[county.root.pk])
    assert client.post(url, {"template": template.pk}).status_code == 200  # must confirm
    assert not ResponsibilityList.objects.exists()
    response = client.post(url, {"template": template.pk, "confirm": "on"}, follow=True)
    assert ResponsibilityList.objects.count() == 3
    again = client.post(url, {"template": template.pk, "confirm": "on"}, follow=True)
    assert ResponsibilityList.objects.count() == 3
    assert "3" in again.content.decode()
    assert response.status_code == 200


def test_a_town_reviewer_cannot_issue_a_template_of_the_county_to_the_county(county, people, signed_in, template):
    client = signed_in(people.town_reviewer)
    assert client.get(reverse("assessments:issue", args=[county.root.pk])).status_code == 404
    # Within the town, the county's template is not offered either (it belongs to the county).
    response = client.post(
        reverse("assessments:issue", args=[county.town.pk]), {"template": template.pk, "confirm": "on"}
    )
    assert response.status_code == 200 and not ResponsibilityList.objects.exists()


def test_the_three_lists_filter_and_export(county, people, signed_in, template):
    services.template_issue(template=template, root=county.root, by=system())
    client = signed_in(people.reviewer)
    url = reverse("assessments:three_lists", args=[county.root.pk])
    page = client.get(url, {"list": "duties", "area": "integrity"}).content.decode()
    assert "开展警示教育一次" in page and "按期完成支部换届" not in page
    assert client.get(url, {"list": "duties", "sector": "organ"}).content.decode().count("东村支部") == 0
    export = client.get(url, {"list": "duties", "format": "csv"})
    body = export.content.decode("utf-8-sig")
    assert export["Content-Disposition"].startswith("attachment;")
    assert body.count("开展警示教育一次") == 3


@pytest.mark.parametrize("branches", [2, 20])
def test_the_three_lists_take_a_fixed_number_of_queries(
    county, people, signed_in, template, branches, django_assert_max_num_queries
):
    for n in range(branches):
        branch_services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"P-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
    services.template_issue(template=template, root=county.root, by=system())
    client = signed_in(people.reviewer)
    url = reverse("assessments:three_lists", args=[county.root.pk])
    for which in ("problems", "duties", "rectifications"):
        with django_assert_max_num_queries(9):
            assert client.get(url, {"list": which}).status_code == 200


def test_the_to_do_merges_duties_rectifications_and_meetings_nearest_first(county, people, signed_in, template):
    services.template_issue(template=template, root=county.town, by=system())
    services.item_add(
        organization=county.east,
        year=date.today().year,
        data={"area": "work_style", "text": "走访困难党员", "due_on": date(date.today().year, 12, 1)},
        by=system(),
    )
    page = signed_in(people.secretary).get(reverse("assessments:todo", args=[county.east.pk])).content.decode()
    assert 'data-kind="duty"' in page and 'data-kind="meeting"' in page
    assert "走访困难党员" in page
    assert ResponsibilityItem.objects.filter(organization=county.east).count() == 4


def test_a_reviewer_reaches_a_findings_history_and_a_secretary_does_not(county, people, signed_in, make_user):
    inspector = make_user("inspector", "assessor", county.town)
    inspection = services.inspection_create(
        organization=county.east, by=inspector, data={"held_on": date(2026, 9, 1), "title": "督查"}
    )
    finding = services.finding_add(
        inspection=inspection,
        by=inspector,
        data={
            "severity": "minor",
            "description": "台账不全",
            "required_rectification": "补齐",
            "deadline": date(2026, 12, 1),
        },
    )
    url = reverse("assessments:finding", args=[finding.pk])
    assert "/orgs/history/" in signed_in(people.town_reviewer).get(url).content.decode()
    assert "/orgs/history/" not in signed_in(people.secretary).get(url).content.decode()


def test_a_reviewer_writes_a_template_with_items_through_the_page(county, people, signed_in):
    from assessments.models import ResponsibilityTemplate

    client = signed_in(people.town_reviewer)
    url = reverse("assessments:template_add", args=[county.town.pk])
    data = {
        "year": "2026",
        "title": "东镇2026年党支部责任清单",
        "organization_kind": "branch",
        "sector": "",
        "items-TOTAL_FORMS": "3",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "items-0-area": "organizational",
        "items-0-text": "完成换届",
        "items-0-due_on": "2027-03-31",
        "items-0-responsible_post": "secretary",
        "items-0-position": "1",
    }
    for n in (1, 2):  # the empty rows, as a browser sends them
        data.update(
            {
                f"items-{n}-area": "",
                f"items-{n}-text": "",
                f"items-{n}-due_on": "",
                f"items-{n}-responsible_post": "secretary",
                f"items-{n}-position": "0",
            }
        )
    response = client.post(url, data)
    assert response.status_code == 200 and "2026" in response.content.decode()  # due in 2027: refused
    assert not ResponsibilityTemplate.objects.exists()
    data["items-0-due_on"] = "2026-10-31"
    assert client.post(url, data).status_code == 302
    template = ResponsibilityTemplate.objects.get()
    assert template.owner == county.town and template.items.get().text == "完成换届"
    issued = client.post(
        reverse("assessments:issue", args=[county.town.pk]), {"template": template.pk, "confirm": "on"}
    )
    assert issued.status_code == 302
    assert ResponsibilityList.objects.filter(template=template).count() == 2
