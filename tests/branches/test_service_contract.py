"""Every service of branches checks the actor, validates, then writes; a refusal writes nothing.

The API and the jobs call services directly, without a form in front: these tests do too.
"""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from branches import services
from branches.models import Cadre, Meeting, Member, Organization, RoleAssignment


def test_a_secretary_of_another_branch_cannot_change_this_branchs_people_or_meetings(county, people):
    """县财政局's secretary acts on 东村: each service refuses and nothing is written."""
    outsider = people.finance_secretary
    zhang_yi = Member.objects.get(name="张一")
    writes = [
        lambda: services.member_save(
            organization=county.east,
            data={"name": "外人", "gender": "male", "category": "full", "joined_party_on": date(2020, 1, 1)},
            by=outsider,
        ),
        lambda: services.member_save(organization=county.east, member=zhang_yi, data={"name": "改名"}, by=outsider),
        lambda: services.cadre_save(
            organization=county.east,
            data={"name": "外人", "post": "secretary", "employment": "part_time", "term_start": date(2026, 1, 1)},
            by=outsider,
        ),
        lambda: services.committee_term_start(organization=county.east, started_on=date(2026, 1, 1), by=outsider),
        lambda: services.meeting_save(
            organization=county.east,
            data={"meeting_type": "theme_day", "held_at": timezone.now() - timedelta(days=1), "place": "x"},
            attendance={},
            by=outsider,
        ),
        # Their own branch's member passed with this branch: refused as well.
        lambda: services.member_save(organization=county.finance, member=zhang_yi, data={"name": "改名"}, by=outsider),
    ]
    for write in writes:
        with pytest.raises(PermissionDenied):
            write()
    assert Member.objects.get(pk=zhang_yi.pk).name == "张一"
    assert not Member.objects.filter(name__in=["外人", "改名"]).exists()
    assert not Cadre.objects.filter(organization=county.east).exists()
    assert not Meeting.objects.exists()


def test_only_an_administrator_changes_the_tree_and_the_roles(county, people):
    for actor in (people.secretary, people.reviewer, people.town_reviewer):
        with pytest.raises(PermissionDenied):
            services.organization_create(
                parent=county.town,
                kind="branch",
                data={"code": "NEW", "name": "新村支部", "sector": "village"},
                by=actor,
            )
        with pytest.raises(PermissionDenied):
            services.organization_dissolve(organization=county.south, on=date(2026, 1, 1), reason="撤并", by=actor)
        with pytest.raises(PermissionDenied):
            services.role_assign(user=actor, organization=county.root, role="admin", by=actor)
    assert not Organization.objects.filter(code="NEW").exists()
    assert Organization.objects.get(pk=county.south.pk).is_active
    assert not RoleAssignment.objects.filter(role="admin").exclude(user=people.admin).exists()
    branch = services.organization_create(
        parent=county.town,
        kind="branch",
        data={"code": "NEW", "name": "新村支部", "sector": "village"},
        by=people.admin,
    )
    assert branch.path.startswith(county.town.path)


def test_markup_a_bad_code_and_an_unknown_sector_are_refused_by_field_and_nothing_is_written(county, people):
    before = Organization.objects.count()
    with pytest.raises(ValidationError) as refused:
        services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": "bad code!", "name": "<script>x</script>", "sector": "nonsense"},
            by=people.admin,
        )
    assert {"code", "name", "sector"} <= set(refused.value.message_dict)
    assert "HTML" in refused.value.message_dict["name"][0] or "HTML" in str(refused.value.message_dict["name"])
    assert Organization.objects.count() == before

    with pytest.raises(ValidationError) as refused:
        services.organization_update(
            organization=county.east,
            data={"code": "T-E-1", "name": "<b>东村</b>", "sector": "village"},
            by=people.admin,
        )
    assert "name" in refused.value.message_dict
    assert Organization.objects.get(pk=county.east.pk).name == "东村支部"

    with pytest.raises(ValidationError) as refused:
        services.member_save(
            organization=county.east,
            data={"name": "<img src=x onerror=alert(1)>", "gender": "x", "category": "full", "joined_party_on": None},
            by=people.secretary,
        )
    assert {"name", "gender", "joined_party_on"} <= set(refused.value.message_dict)
    assert not Member.objects.filter(name__startswith="<").exists()
