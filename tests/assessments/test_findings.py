"""Findings move open → in progress → submitted → verified (or → returned → in progress), by the right role."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assessments import services
from assessments.models import Finding, FindingState
from tests.portal.test_hardening import PNG, upload


@pytest.fixture
def finding(county, people, make_user):
    inspector = make_user("inspector", "assessor", county.town)
    inspection = services.inspection_create(
        organization=county.east, by=inspector, data={"held_on": date(2026, 9, 1), "title": "三季度督查"}
    )
    return services.finding_add(
        inspection=inspection,
        by=inspector,
        data={
            "severity": "major",
            "description": "支委会记录不全",
            "required_rectification": "补齐记录并建立台账",
            "deadline": date(2026, 10, 31),
        },
    )


def move(finding, to, user, **extra):
    finding.refresh_from_db()
    return services.finding_move(finding=finding, to_state=to, by=user, version=finding.version, **extra)


def inspector(people):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="inspector")


EDGES = [
    # from, to, who may, who may not
    ("open", "in_progress", "secretary", "reviewer"),
    ("in_progress", "submitted", "secretary", "inspector"),
    ("submitted", "verified", "inspector", "secretary"),
    ("submitted", "returned", "inspector", "secretary"),
    ("returned", "in_progress", "secretary", "inspector"),
]


def put_in(finding, state):
    Finding.objects.filter(pk=finding.pk).update(state=state)
    finding.refresh_from_db()


def user_named(people, name):
    return inspector(people) if name == "inspector" else getattr(people, name)


@pytest.mark.parametrize(("start", "to", "allowed", "refused"), EDGES)
def test_each_allowed_step_by_its_role_and_not_by_the_other(
    finding, people, settings, tmp_path, start, to, allowed, refused
):
    settings.MEDIA_ROOT = tmp_path
    put_in(finding, start)
    extra = {"note": "已补齐记录", "upload": upload("证明.png", PNG)} if to in ("submitted", "returned") else {}
    with pytest.raises(PermissionDenied):
        move(finding, to, user_named(people, refused), **extra)
    assert Finding.objects.get(pk=finding.pk).state == start
    extra = {"note": "已补齐记录", "upload": upload("证明.png", PNG)} if to in ("submitted", "returned") else {}
    moved = move(finding, to, user_named(people, allowed), **extra)
    assert moved.state == to
    assert moved.transitions.last().by == user_named(people, allowed)


FORBIDDEN = [
    ("open", "submitted"),
    ("open", "verified"),
    ("open", "returned"),
    ("in_progress", "verified"),
    ("in_progress", "returned"),
    ("in_progress", "open"),
    ("submitted", "in_progress"),
    ("submitted", "open"),
    ("returned", "verified"),
    ("returned", "submitted"),
    ("verified", "in_progress"),
    ("verified", "returned"),
    ("verified", "open"),
]


@pytest.mark.parametrize(("start", "to"), FORBIDDEN)
def test_every_other_step_is_refused_for_everyone(finding, people, start, to):
    put_in(finding, start)
    for user in (people.secretary, people.admin, inspector(people)):
        with pytest.raises(ValidationError):
            move(finding, to, user, note="x")
    assert Finding.objects.get(pk=finding.pk).state == start


def test_a_rectification_cannot_be_submitted_without_evidence(finding, people):
    move(finding, "in_progress", people.secretary)
    with pytest.raises(ValidationError) as error:
        move(finding, "submitted", people.secretary, note="已整改")
    assert "file" in error.value.message_dict
    with pytest.raises(ValidationError):
        move(finding, "submitted", people.secretary, note="", upload=upload("a.png", PNG))
    assert Finding.objects.get(pk=finding.pk).state == "in_progress"


def test_a_return_needs_a_reason(finding, people, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    move(finding, "in_progress", people.secretary)
    move(finding, "submitted", people.secretary, note="已整改", upload=upload("a.png", PNG))
    with pytest.raises(ValidationError):
        move(finding, "returned", inspector(people), note="")
    move(finding, "returned", inspector(people), note="记录仍缺少签字")
    assert Finding.objects.get(pk=finding.pk).state == FindingState.RETURNED


def test_two_inspectors_acting_at_once_cannot_overwrite_each_other(finding, people, settings, tmp_path, make_user):
    settings.MEDIA_ROOT = tmp_path
    move(finding, "in_progress", people.secretary)
    move(finding, "submitted", people.secretary, note="已整改", upload=upload("a.png", PNG))
    finding.refresh_from_db()
    seen = finding.version
    services.finding_move(finding=finding, to_state="verified", by=inspector(people), version=seen)
    stale = Finding.objects.get(pk=finding.pk)
    stale.state = "submitted"  # what the second inspector's page still shows
    with pytest.raises(ValidationError):
        services.finding_move(finding=stale, to_state="returned", by=people.admin, version=seen, note="退回")
    assert Finding.objects.get(pk=finding.pk).state == "verified"
    assert Finding.objects.get(pk=finding.pk).transitions.count() == 3


def test_findings_are_overdue_until_verified(finding):
    assert not finding.is_overdue(date(2026, 10, 31))
    assert finding.is_overdue(date(2026, 11, 1))
    put_in(finding, "verified")
    assert not finding.is_overdue(date(2026, 11, 1))
