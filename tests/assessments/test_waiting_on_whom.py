"""What waits on whom: a submitted rectification leaves the secretary's to-do for the inspectors' queue,
and the secretary submits a rectification with evidence straight from "open" in one step."""

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from assessments import services
from assessments.models import Finding, FindingTransition
from branches.models import Attachment
from tests.portal.test_hardening import PNG, upload


@pytest.fixture
def finding(county, people, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
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


def inspector():
    return get_user_model().objects.get(username="inspector")


def todo_of(client, branch):
    response = client.get(reverse("assessments:todo", args=[branch.pk]))
    return response.context["entries"], response.content.decode()


def test_a_submitted_rectification_leaves_the_secretarys_to_do_for_the_inspectors_queue(
    county, people, signed_in, finding
):
    client = signed_in(people.secretary)
    before, page = todo_of(client, county.east)
    assert "支委会记录不全" in page
    response = client.post(
        reverse("assessments:finding", args=[finding.pk]),
        {"to_state": "submitted", "version": finding.version, "note": "已补齐记录", "file": upload("记录.png", PNG)},
    )
    assert response.status_code == 302
    after, page = todo_of(client, county.east)
    assert len(after) == len(before) - 1
    assert "支委会记录不全" not in page
    queue = signed_in(inspector()).get(reverse("assessments:findings_queue", args=[county.town.pk]))
    assert "支委会记录不全" in queue.content.decode()


def test_a_rectification_sent_back_is_on_the_secretarys_to_do_again(county, people, signed_in, finding):
    services.finding_submit(
        finding=finding, by=people.secretary, version=finding.version, note="已整改", upload=upload("a.png", PNG)
    )
    finding.refresh_from_db()
    services.finding_move(finding=finding, to_state="returned", by=inspector(), version=finding.version, note="缺签字")
    _entries, page = todo_of(signed_in(people.secretary), county.east)
    assert "支委会记录不全" in page


def test_submitting_from_open_records_the_start_and_the_submission(people, finding):
    done = services.finding_submit(
        finding=finding, by=people.secretary, version=finding.version, note="已补齐", upload=upload("a.png", PNG)
    )
    assert done.state == "submitted" and done.rectification_note == "已补齐" and done.evidence_file is not None
    steps = list(done.transitions.values_list("from_state", "to_state", "by"))
    assert steps == [("open", "in_progress", people.secretary.pk), ("in_progress", "submitted", people.secretary.pk)]


@pytest.mark.parametrize(
    ("note", "with_file"), [("已补齐", False), ("", True)], ids=["without a file", "without a note"]
)
def test_submitting_from_open_without_evidence_starts_nothing(people, finding, note, with_file):
    with pytest.raises(ValidationError):
        services.finding_submit(
            finding=finding,
            by=people.secretary,
            version=finding.version,
            note=note,
            upload=upload("a.png", PNG) if with_file else None,
        )
    assert Finding.objects.get(pk=finding.pk).state == "open"
    assert not FindingTransition.objects.exists() and not Attachment.objects.exists()


def test_only_the_branch_submits_its_rectification(people, finding):
    with pytest.raises(PermissionDenied):
        services.finding_submit(
            finding=finding, by=inspector(), version=finding.version, note="代为整改", upload=upload("a.png", PNG)
        )
    assert Finding.objects.get(pk=finding.pk).state == "open" and not FindingTransition.objects.exists()


def test_a_verified_finding_cannot_be_submitted_again(people, finding):
    services.finding_submit(
        finding=finding, by=people.secretary, version=finding.version, note="已整改", upload=upload("a.png", PNG)
    )
    finding.refresh_from_db()
    services.finding_move(finding=finding, to_state="verified", by=inspector(), version=finding.version)
    finding.refresh_from_db()
    with pytest.raises(ValidationError):
        services.finding_submit(finding=finding, by=people.secretary, version=finding.version, note="再交一次")
    assert Finding.objects.get(pk=finding.pk).transitions.count() == 3


def test_the_secretary_is_offered_to_start_or_to_submit_an_open_finding(people, signed_in, finding):
    page = signed_in(people.secretary).get(reverse("assessments:finding", args=[finding.pk])).content.decode()
    assert 'value="in_progress"' in page and 'value="submitted"' in page
    page = signed_in(inspector()).get(reverse("assessments:finding", args=[finding.pk])).content.decode()
    assert 'value="submitted"' not in page
