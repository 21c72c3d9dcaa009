"""The organization tree: moves keep history, cycles are impossible, bad input is refused in Chinese."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from branches import services
from branches.models import Cadre, Member, Organization, OrganizationKind
from tests.conftest import system


def test_moving_a_town_moves_its_whole_subtree_and_keeps_its_records(county):
    services.organization_move(organization=county.town, new_parent=county.organs, by=system())
    town = Organization.objects.get(pk=county.town.pk)
    organs = Organization.objects.get(pk=county.organs.pk)
    assert town.path.startswith(organs.path)
    east = Organization.objects.get(pk=county.east.pk)
    assert east.path.startswith(town.path)
    assert east.depth == 4
    assert Member.objects.filter(organization=east).count() == 3
    assert Organization.objects.find_problems() == ([], [], [], [], [])


def test_an_organization_cannot_move_under_its_own_descendant(county):
    with pytest.raises(ValidationError) as error:
        services.organization_move(organization=county.town, new_parent=county.east, by=system())
    assert "new_parent" in error.value.message_dict
    assert Organization.objects.get(pk=county.east.pk).path.startswith(county.town.path)


def test_a_party_group_can_only_sit_under_a_branch(county):
    with pytest.raises(ValidationError):
        services.organization_move(organization=county.group, new_parent=county.town, by=system())
    with pytest.raises(ValidationError):
        services.organization_create(
            parent=county.town,
            kind=OrganizationKind.COMMITTEE,
            data={"code": "X1", "name": "错误的党委", "sector": "village"},
            by=system(),
        )


def test_the_move_page_refuses_a_cycle_with_a_chinese_message_and_changes_nothing(county, people, signed_in):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:organization_move", args=[county.town.pk]), {"new_parent_code": county.east.code}
    )
    assert response.status_code == 200
    assert "不能移动到其自身或其下级组织之下" in response.content.decode()
    assert Organization.objects.get(pk=county.town.pk).path == county.town.path


def test_the_move_page_does_not_accept_a_target_outside_the_admins_scope(county, make_user, signed_in):
    town_admin = make_user("town_admin", "admin", county.town)
    response = signed_in(town_admin).post(
        reverse("branches:organization_move", args=[county.south.pk]), {"new_parent_code": county.organs.code}
    )
    assert response.status_code == 200
    assert Organization.objects.get(pk=county.south.pk).path == county.south.path


def test_a_duplicate_code_is_refused_beside_the_field(county, people, signed_in):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:organization_edit", args=[county.south.pk]),
        {
            "code": county.east.code,
            "name": "南村支部",
            "sector": "village",
        },
    )
    assert response.status_code == 200
    assert "组织代码" in response.content.decode()
    assert "已" in response.content.decode()
    assert Organization.objects.get(pk=county.south.pk).code == "T-E-2"


def test_adding_a_sub_organization_through_the_page(county, people, signed_in):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:organization_add", args=[county.town.pk]),
        {
            "kind": "branch",
            "code": "T-E-3",
            "name": "西村支部",
            "sector": "village",
        },
    )
    assert response.status_code == 302
    west = Organization.objects.get(code="T-E-3")
    assert west.path.startswith(county.town.path) and west.depth == county.town.depth + 1


def test_dissolving_keeps_the_records_and_marks_the_party_groups(county):
    Member.objects.filter(organization=county.east).update(status="transferred_out", left_on=date(2026, 4, 1))
    services.organization_dissolve(organization=county.east, on=date(2026, 5, 1), reason="撤并", by=system())
    east = Organization.objects.get(pk=county.east.pk)
    assert east.status == "dissolved" and east.dissolved_on == date(2026, 5, 1)
    assert Organization.objects.get(pk=county.group.pk).status == "dissolved"
    assert Member.objects.filter(organization=east).count() == 3


def test_an_organization_with_active_members_or_children_cannot_be_dissolved(county):
    with pytest.raises(ValidationError):
        services.organization_dissolve(organization=county.east, on=date(2026, 2, 1), reason="撤并", by=system())
    with pytest.raises(ValidationError):
        services.organization_dissolve(organization=county.town, on=date(2026, 2, 1), reason="撤并", by=system())
    assert Organization.objects.get(pk=county.town.pk).status == "active"


def test_the_dissolve_page_asks_for_confirmation(county, people, signed_in):
    Member.objects.filter(organization=county.south).update(status="transferred_out", left_on=date(2026, 1, 1))
    client = signed_in(people.admin)
    url = reverse("branches:organization_dissolve", args=[county.south.pk])
    response = client.post(url, {"on": "2026-02-01", "reason": "撤并"})
    assert response.status_code == 200
    assert Organization.objects.get(pk=county.south.pk).status == "active"
    response = client.post(url, {"on": "2026-02-01", "reason": "撤并", "confirm": "on"})
    assert response.status_code == 302
    assert Organization.objects.get(pk=county.south.pk).status == "dissolved"


def test_a_cadre_term_cannot_end_before_it_starts(county, people, signed_in):
    client = signed_in(people.secretary)
    response = client.post(
        reverse("branches:cadre_add", args=[county.east.pk]),
        {
            "name": "张一",
            "post": "secretary",
            "employment": "part_time",
            "term_start": "2025-06-01",
            "term_end": "2025-01-01",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "任期" in page and "张一" in page  # the form comes back filled, with the message
    assert not Cadre.objects.filter(organization=county.east).exists()


def test_a_member_cannot_be_put_in_another_branchs_party_group(county, people, signed_in):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:member_add", args=[county.south.pk]),
        {
            "name": "李二",
            "gender": "male",
            "category": "full",
            "party_group": county.group.pk,
            "joined_party_on": "2015-07-01",
            "status": "active",
        },
    )
    assert response.status_code == 200
    assert not Member.objects.filter(name="李二").exists()


def test_a_secretary_adds_a_member_to_their_branch(county, people, signed_in):
    client = signed_in(people.secretary)
    response = client.post(
        reverse("branches:member_add", args=[county.east.pk]),
        {
            "name": "张四",
            "gender": "female",
            "category": "probationary",
            "party_group": county.group.pk,
            "joined_party_on": "2026-05-01",
            "status": "active",
        },
    )
    assert response.status_code == 302
    member = Member.objects.get(name="张四")
    assert member.organization_id == county.east.pk
    assert member.joined_branch_on == date(2026, 5, 1)


def test_the_committee_term_follows_the_rule_for_villages(county):
    term = services.committee_term_start(organization=county.east, started_on=date(2024, 3, 1), by=system())
    assert term.length_years == 5
    assert term.expected_election_on == date(2029, 3, 1)
    term = services.committee_term_start(organization=county.finance, started_on=date(2024, 3, 1), by=system())
    assert term.length_years == 3
    second = services.committee_term_start(organization=county.finance, started_on=date(2026, 3, 1), by=system())
    term.refresh_from_db()
    assert term.ended_on == date(2026, 3, 1) and second.ended_on is None


def test_recording_an_election_opens_a_term_of_the_rules_length(county, people, signed_in):
    client = signed_in(people.secretary)
    url = reverse("branches:committee_election", args=[county.east.pk])
    response = client.post(url, {"started_on": "2099-01-01"})
    assert response.status_code == 200 and "不能晚于今天" in response.content.decode()
    assert client.post(url, {"started_on": "2025-03-01"}).status_code == 302
    page = client.get(reverse("branches:organization", args=[county.east.pk])).content.decode()
    assert "2030年3月1日" in page  # village committees serve five years
