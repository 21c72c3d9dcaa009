"""The secretary lands on a page that shows overdue and soon-due duties and open rectifications, not only meetings."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments import services
from assessments.models import Finding, Inspection
from tests.conftest import system


def own_duty(branch, text, days_from_today):
    today = timezone.localdate()
    due = today + timedelta(days=days_from_today)
    item = services.item_add(
        organization=branch, year=today.year, data={"area": "ideological", "text": text, "due_on": today}, by=system()
    )
    item.due_on = due  # a due date in another year than today's is fine for the page
    item.save(update_fields=["due_on"])
    return item


def open_finding(branch, description, days_from_today, state="open"):
    inspection = Inspection.objects.create(organization=branch, held_on=timezone.localdate(), title="督查")
    return Finding.objects.create(
        inspection=inspection,
        organization=branch,
        description=description,
        required_rectification="整改",
        deadline=timezone.localdate() + timedelta(days=days_from_today),
        state=state,
    )


def landing(client):
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain  # the secretary is sent to their branch's page
    return response.content.decode()


def test_the_secretarys_landing_page_lists_overdue_and_soon_due_duties_and_open_rectifications(
    county, people, signed_in
):
    own_duty(county.east, "上报党员发展计划", -3)
    own_duty(county.east, "组织专题学习", 5)
    own_duty(county.east, "年底述职准备", 60)
    own_duty(county.south, "南村的责任", -3)
    open_finding(county.east, "党费台账未按月登记", 20)
    open_finding(county.east, "已提交的整改", 20, state="submitted")
    page = landing(signed_in(people.secretary))
    assert "上报党员发展计划" in page and "组织专题学习" in page and "党费台账未按月登记" in page
    assert "年底述职准备" not in page and "南村的责任" not in page and "已提交的整改" not in page
    assert 'data-count="overdue-duties"' in page and "1 项责任已逾期" in page
    assert reverse("assessments:todo", args=[county.east.pk]) in page


def test_a_branch_with_nothing_waiting_says_so(county, people, signed_in):
    page = landing(signed_in(people.secretary))
    assert "没有逾期" in page


@pytest.mark.parametrize("duties", [1, 20])
def test_the_landing_page_takes_the_same_number_of_queries_however_many_duties(
    county, people, signed_in, duties, django_assert_num_queries
):
    for n in range(duties):
        own_duty(county.east, f"责任{n}", n - 5)
        open_finding(county.east, f"问题{n}", n)
    client = signed_in(people.secretary)
    url = reverse("branches:meetings_owed", args=[county.east.pk])
    client.get(url)
    with django_assert_num_queries(13):
        assert client.get(url).status_code == 200
