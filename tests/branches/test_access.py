"""The access helper decides every read and write: each role, inside and outside its subtree.

Outside the subtree the answer is 404 (never 403, never the data), so guessing ids tells nothing.
"""

import pytest
from django.urls import reverse

from branches import access
from branches.models import Cadre, Member, Organization
from tests.conftest import system


def status(client, url, method="get", data=None):
    return getattr(client, method)(url, data or {}).status_code


# Who may see, edit and administer which organization of the drawn county (conftest.county).
VIEW_MATRIX = [
    # user,             organization, may view
    ("admin", "finance", True),
    ("admin", "east", True),
    ("reviewer", "east", True),
    ("reviewer", "finance", True),
    ("town_reviewer", "east", True),
    ("town_reviewer", "town", True),
    ("town_reviewer", "finance", False),
    ("town_reviewer", "root", False),
    ("assessor", "finance", True),
    ("assessor", "east", False),
    ("secretary", "east", True),
    ("secretary", "group", True),
    ("secretary", "south", False),
    ("secretary", "town", False),
    ("secretary", "finance", False),
    ("finance_secretary", "east", False),
    ("nobody", "east", False),
]


@pytest.mark.parametrize(("who", "where", "allowed"), VIEW_MATRIX)
def test_organization_page_is_visible_only_inside_the_subtree(county, people, signed_in, who, where, allowed):
    client = signed_in(getattr(people, who))
    org = getattr(county, where)
    assert status(client, reverse("branches:organization", args=[org.pk])) == (200 if allowed else 404)
    assert status(client, reverse("branches:children", args=[org.pk])) == (200 if allowed else 404)
    assert status(client, reverse("branches:members", args=[org.pk])) == (200 if allowed else 404)


EDIT_MATRIX = [
    ("admin", "east", True),
    ("secretary", "east", True),
    ("secretary", "south", False),
    ("finance_secretary", "east", False),
    ("reviewer", "east", False),
    ("town_reviewer", "east", False),
    ("assessor", "finance", False),
]


@pytest.mark.parametrize(("who", "where", "allowed"), EDIT_MATRIX)
def test_only_secretaries_and_admins_of_the_subtree_edit_records(county, people, signed_in, who, where, allowed):
    client = signed_in(getattr(people, who))
    org = getattr(county, where)
    member = Member.objects.filter(organization=org).first()
    assert status(client, reverse("branches:cadre_add", args=[org.pk])) == (200 if allowed else 404)
    assert status(client, reverse("branches:member_add", args=[org.pk])) == (200 if allowed else 404)
    assert status(client, reverse("branches:member_edit", args=[member.pk])) == (200 if allowed else 404)


def test_a_secretary_cannot_change_another_branchs_member_by_guessing_its_id(county, people, signed_in):
    client = signed_in(people.secretary)
    li = Member.objects.get(name="李一")
    response = client.post(
        reverse("branches:member_edit", args=[li.pk]),
        {
            "name": "被篡改",
            "gender": "male",
            "category": "full",
            "joined_party_on": "2010-07-01",
            "status": "active",
        },
    )
    assert response.status_code == 404
    li.refresh_from_db()
    assert li.name == "李一"


def test_a_secretary_cannot_add_a_cadre_to_another_branch(county, people, signed_in):
    client = signed_in(people.secretary)
    response = client.post(
        reverse("branches:cadre_add", args=[county.south.pk]),
        {
            "name": "冒名",
            "post": "secretary",
            "employment": "part_time",
            "term_start": "2025-01-01",
        },
    )
    assert response.status_code == 404
    assert not Cadre.objects.filter(name="冒名").exists()


def test_a_secretary_cannot_edit_another_branchs_cadre(county, people, signed_in):
    client = signed_in(people.secretary)
    wang = Cadre.objects.get(name="王一")
    assert status(client, reverse("branches:cadre_edit", args=[wang.pk])) == 404
    assert status(client, reverse("branches:cadre_edit", args=[wang.pk]), "post", {"name": "x"}) == 404


ADMINISTER_MATRIX = [
    ("admin", "finance", True),
    ("reviewer", "finance", False),
    ("secretary", "east", False),
    ("assessor", "finance", False),
]


@pytest.mark.parametrize(("who", "where", "allowed"), ADMINISTER_MATRIX)
def test_only_admins_change_the_tree(county, people, signed_in, who, where, allowed):
    client = signed_in(getattr(people, who))
    org = getattr(county, where)
    for name in ("organization_edit", "organization_add", "organization_move", "organization_dissolve"):
        assert status(client, reverse(f"branches:{name}", args=[org.pk])) == (200 if allowed else 404), name


def test_search_finds_only_organizations_in_scope(county, people, signed_in):
    client = signed_in(people.town_reviewer)
    page = client.get(reverse("branches:tree"), {"q": "支部"}).content.decode()
    assert "东村支部" in page
    assert "南村支部" in page
    assert "县财政局支部" not in page
    page = client.get(reverse("branches:tree"), {"q": "T-J"}).content.decode()
    assert "县财政局支部" not in page


def test_tree_roots_are_the_users_own_organizations(county, people, signed_in):
    page = signed_in(people.secretary).get(reverse("branches:tree")).content.decode()
    assert "东村支部" in page
    assert "中共测试县委员会" not in page
    assert "南村支部" not in page


def test_breadcrumbs_do_not_reveal_ancestors_outside_the_scope(county, people, signed_in):
    page = signed_in(people.secretary).get(reverse("branches:organization", args=[county.east.pk])).content.decode()
    assert "中共东镇委员会" not in page
    page = signed_in(people.reviewer).get(reverse("branches:organization", args=[county.east.pk])).content.decode()
    assert "中共东镇委员会" in page


def test_the_helper_scopes_querysets_by_the_path_prefix(county, people):
    visible = set(access.scoped(people.town_reviewer, Organization.objects.all()).values_list("code", flat=True))
    assert visible == {"T-E", "T-E-1", "T-E-1-G1", "T-E-2"}
    members = set(access.scoped(people.secretary, Member.objects.all()).values_list("name", flat=True))
    assert members == {"张一", "张二", "张三"}
    assert not access.scoped(people.nobody, Member.objects.all()).exists()
    assert access.can(people.secretary, access.EDIT, county.group)
    assert not access.can(people.secretary, access.ADMINISTER, county.east)
    assert not access.can(people.reviewer, access.EDIT, county.east)


def test_a_role_in_a_dissolved_organization_still_reads_its_records_and_nothing_more(county, people, make_user):
    """A former secretary answers for what the branch logged: VIEW stays, EDIT and the rest go."""
    from datetime import date

    from branches import services

    Member.objects.filter(organization=county.south).delete()
    user = make_user("former", "secretary", county.south)
    reviewer = make_user("former_reviewer", "reviewer", county.south)
    assert access.can(user, access.EDIT, county.south)
    services.organization_dissolve(organization=county.south, on=date(2026, 1, 1), reason="合并", by=system())
    for holder in (user, reviewer):
        access.forget(holder)
    county.south.refresh_from_db()
    assert access.can(user, access.VIEW, county.south)
    assert not access.can(user, access.EDIT, county.south)
    assert not access.can(reviewer, access.REVIEW, county.south)
    assert access.scoped(user, Organization.objects.all()).get() == county.south
    assert not access.scoped(user, Organization.objects.all(), access.EDIT).exists()


# --- Django admin: admins only, and scoped -------------------------------------------------

ADMIN_SITE_MATRIX = [
    ("admin", 200),
    ("reviewer", 302),
    ("secretary", 302),
    ("assessor", 302),
    ("nobody", 302),
]


@pytest.mark.parametrize(("who", "expected"), ADMIN_SITE_MATRIX)
def test_django_admin_is_for_admins_only(county, people, signed_in, who, expected):
    client = signed_in(getattr(people, who))
    assert status(client, reverse("admin:index")) == expected
    assert status(client, reverse("admin:branches_member_changelist")) == expected


def test_a_town_admin_sees_only_the_towns_records_in_django_admin(county, people, make_user, signed_in):
    town_admin = make_user("town_admin", "admin", county.town)
    client = signed_in(town_admin)
    listing = client.get(reverse("admin:branches_member_changelist")).content.decode()
    assert "张一" in listing
    assert "王一" not in listing
    wang = Member.objects.get(name="王一")
    assert status(client, reverse("admin:branches_member_change", args=[wang.pk])) in (302, 404)
    orgs = client.get(reverse("admin:branches_organization_changelist")).content.decode()
    assert "东村支部" in orgs
    assert "县财政局支部" not in orgs


def test_a_town_admin_cannot_move_a_member_into_a_branch_outside_the_town(county, people, make_user, signed_in):
    town_admin = make_user("town_admin", "admin", county.town)
    client = signed_in(town_admin)
    zhang = Member.objects.get(name="张二")
    response = client.post(
        reverse("admin:branches_member_change", args=[zhang.pk]),
        {
            "organization": county.finance.pk,
            "name": "张二",
            "gender": "male",
            "category": "full",
            "joined_party_on": "2010-07-01",
            "joined_branch_on": "2010-07-01",
            "status": "active",
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    zhang.refresh_from_db()
    assert zhang.organization_id == county.east.pk


def test_a_town_admin_cannot_reach_the_county_admins_account(county, people, make_user, signed_in):
    town_admin = make_user("town_admin", "admin", county.town)
    client = signed_in(town_admin)
    users = client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "secretary" in users  # 东村's secretary lies inside the town
    assert ">admin<" not in users
    assert status(client, reverse("admin:auth_user_change", args=[people.admin.pk])) in (302, 404)
