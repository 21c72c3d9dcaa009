"""Pages answer in a fixed number of queries, however large the tree and the branch."""

from datetime import date

import pytest
from django.urls import reverse

from branches import services
from branches.models import Cadre, Employment, OrganizationKind, Post, TrainingRecord
from tests.conftest import add_member, system

# Session, user, grants, and the page's own reads; the bound holds for 1 and for 40 branches.
# Every signed-in page counts the header bell's unread reminders (one query).
TREE_QUERIES = 7
ORG_PAGE_QUERIES = 14  # + the documents list
MEMBER_LIST_QUERIES = 7


def grow(county, branches):
    """Add `branches` villages under the town, each with members, a group, cadres and training."""
    for n in range(branches):
        branch = services.organization_create(
            parent=county.town,
            kind=OrganizationKind.BRANCH,
            data={"code": f"G-{n}", "name": f"新村{n}支部", "sector": "village"},
            by=system(),
        )
        group = services.organization_create(
            parent=branch,
            kind=OrganizationKind.PARTY_GROUP,
            data={"code": f"G-{n}-1", "name": f"新村{n}第一党小组", "sector": "village"},
            by=system(),
        )
        for m in range(8):
            add_member(branch, f"成员{n}-{m}", group=group if m % 2 else None)
        for post in (Post.SECRETARY, Post.ORGANIZATION_MEMBER, Post.PUBLICITY_MEMBER):
            cadre = Cadre.objects.create(
                organization=county.town,
                name=f"干部{n}{post}",
                post=post,
                employment=Employment.PART_TIME,
                term_start=date(2024, 1, 1),
            )
            TrainingRecord.objects.create(
                cadre=cadre, course="培训", organizer="县委组织部", held_on=date(2025, 5, 1), hours=8
            )
        services.committee_term_start(organization=branch, started_on=date(2024, 1, 1), by=system())


@pytest.mark.parametrize("branches", [1, 40])
def test_the_tree_page_query_count_does_not_grow(county, people, signed_in, django_assert_max_num_queries, branches):
    grow(county, branches)
    client = signed_in(people.reviewer)
    with django_assert_max_num_queries(TREE_QUERIES):
        assert client.get(reverse("branches:tree")).status_code == 200
    with django_assert_max_num_queries(TREE_QUERIES):
        assert client.get(reverse("branches:children", args=[county.town.pk])).status_code == 200
    with django_assert_max_num_queries(TREE_QUERIES + 1):
        assert client.get(reverse("branches:tree"), {"q": "村"}).status_code == 200


@pytest.mark.parametrize("branches", [1, 40])
def test_the_organization_page_query_count_does_not_grow(
    county, people, signed_in, django_assert_max_num_queries, branches
):
    grow(county, branches)
    client = signed_in(people.reviewer)
    for org in (county.root, county.town, county.east):
        with django_assert_max_num_queries(ORG_PAGE_QUERIES):
            assert client.get(reverse("branches:organization", args=[org.pk])).status_code == 200


@pytest.mark.parametrize("members", [2, 60])
def test_the_member_list_query_count_does_not_grow(county, people, signed_in, django_assert_max_num_queries, members):
    for m in range(members):
        add_member(county.east, f"新成员{m}", group=county.group if m % 2 else None)
    client = signed_in(people.secretary)
    with django_assert_max_num_queries(MEMBER_LIST_QUERIES):
        assert client.get(reverse("branches:members", args=[county.east.pk])).status_code == 200
