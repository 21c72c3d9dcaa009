"""Duties and inspections keep the service contract: the actor's permission, then validation, then
the write; a refused call writes nothing, files included."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assessments import services
from assessments.models import Finding, Inspection, ResponsibilityItem
from branches.models import Attachment
from tests.conftest import system
from tests.portal.test_hardening import PNG, upload


def files_in(folder):
    return [path for path in folder.rglob("*") if path.is_file()]


def test_a_secretary_of_another_branch_cannot_add_a_duty_to_this_branch(county, people):
    with pytest.raises(PermissionDenied):
        services.item_add(
            organization=county.east,
            year=2026,
            data={"area": "ideological", "text": "外单位添加的事项", "due_on": date(2026, 12, 1)},
            by=people.finance_secretary,
        )
    with pytest.raises(PermissionDenied):
        services.inspection_create(
            organization=county.east, data={"held_on": date(2026, 9, 1), "title": "督查"}, by=people.secretary
        )
    assert not ResponsibilityItem.objects.exists()
    assert not Inspection.objects.exists()


def test_markup_and_an_unknown_area_are_refused_by_field_and_nothing_is_written(county, people):
    with pytest.raises(ValidationError) as refused:
        services.item_add(
            organization=county.east,
            year=2026,
            data={"area": "nonsense", "text": "<script>x</script>", "due_on": date(2026, 12, 1)},
            by=people.secretary,
        )
    assert {"area", "text"} <= set(refused.value.message_dict)
    with pytest.raises(ValidationError) as refused:
        services.inspection_create(
            organization=county.east, data={"held_on": date(2026, 9, 1), "title": "<b>督查</b>"}, by=people.reviewer
        )
    assert "title" in refused.value.message_dict
    assert not ResponsibilityItem.objects.exists()
    assert not Inspection.objects.exists()


def test_a_stale_completion_with_a_file_keeps_neither_the_attachment_nor_the_file(
    county, template, people, settings, tmp_path
):
    """Two secretaries open the same duty; the second submits with a photo after the first one saved."""
    settings.MEDIA_ROOT = tmp_path
    services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.get(organization=county.east, text="按期完成支部换届")
    seen = item.version
    services.item_complete(item=item, by=people.secretary, version=seen, note="已换届")

    with pytest.raises(ValidationError):
        services.item_complete(item=item, by=people.secretary, version=seen, upload=upload("换届照片.png", PNG))

    assert not Attachment.objects.exists()
    assert files_in(tmp_path) == []


def test_a_stale_rectification_with_a_file_keeps_neither_the_attachment_nor_the_file(
    county, people, make_user, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    inspector = make_user("inspector", "assessor", county.town)
    inspection = services.inspection_create(
        organization=county.east, data={"held_on": date(2026, 9, 1), "title": "三季度督查"}, by=inspector
    )
    finding = services.finding_add(
        inspection=inspection,
        data={
            "severity": "minor",
            "description": "记录不全",
            "required_rectification": "补齐",
            "deadline": date(2026, 10, 31),
        },
        by=inspector,
    )
    finding = services.finding_move(finding=finding, to_state="in_progress", by=people.secretary, version=1)
    Finding.objects.filter(pk=finding.pk).update(version=finding.version + 1)  # someone acted meanwhile

    with pytest.raises(ValidationError):
        services.finding_move(
            finding=finding,
            to_state="submitted",
            by=people.secretary,
            version=finding.version,
            note="已补齐",
            upload=upload("整改材料.png", PNG),
        )

    assert not Attachment.objects.exists()
    assert files_in(tmp_path) == []
