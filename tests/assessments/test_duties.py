"""Responsibility lists: issued once to a subtree, copied not linked, completed with evidence."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assessments import selectors, services
from assessments.models import ResponsibilityItem, ResponsibilityList, TemplateItem
from branches import services as branch_services
from branches.models import AuditEntry
from tests.conftest import system


def test_issuing_gives_every_branch_of_the_subtree_its_own_list(county, template):
    result = services.template_issue(template=template, root=county.town, by=system())
    assert (result.lists, result.items, result.already) == (2, 6, 0)
    assert set(ResponsibilityList.objects.values_list("organization__name", flat=True)) == {"东村支部", "南村支部"}
    assert ResponsibilityItem.objects.filter(organization=county.finance).count() == 0


def test_issuing_twice_creates_nothing_twice(county, template):
    services.template_issue(template=template, root=county.root, by=system())
    again = services.template_issue(template=template, root=county.root, by=system())
    assert (again.lists, again.items, again.already) == (0, 0, 3)
    assert ResponsibilityItem.objects.count() == 9


def test_issuing_to_one_sector_only(county, template):
    template.sector = "organ"
    template.save()
    services.template_issue(template=template, root=county.root, by=system())
    assert list(ResponsibilityList.objects.values_list("organization__name", flat=True)) == ["县财政局支部"]


def test_issuing_is_a_fixed_number_of_queries(county, template, django_assert_max_num_queries):
    for n in range(20):
        branch_services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"I-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
    # 10, and two for the month summaries: the holders locked, their months recounted in one upsert
    with django_assert_max_num_queries(12):
        result = services.template_issue(template=template, root=county.root, by=system())
    assert result.lists == 23
    assert AuditEntry.objects.filter(additional_data__issued_to=23).count() == 1


def test_template_edits_do_not_rewrite_issued_lists(county, template):
    services.template_issue(template=template, root=county.town, by=system())
    item = TemplateItem.objects.get(text="开展警示教育一次")
    item.text = "开展警示教育两次"
    item.due_on = date(2026, 11, 30)
    item.save()
    copies = ResponsibilityItem.objects.filter(source=item)
    assert set(copies.values_list("text", "due_on")) == {("开展警示教育一次", date(2026, 12, 31))}


def test_own_items_must_fall_in_the_lists_year(county):
    with pytest.raises(ValidationError) as error:
        services.item_add(
            organization=county.east,
            year=2026,
            data={"area": "ideological", "text": "自学", "due_on": date(2027, 1, 5)},
            by=system(),
        )
    assert "due_on" in error.value.message_dict
    item = services.item_add(
        organization=county.east,
        year=2026,
        data={"area": "ideological", "text": "自学", "due_on": date(2026, 12, 5)},
        by=system(),
    )
    assert item.responsibility_list.template is None


def test_completing_needs_evidence_and_the_right_user(county, template, people):
    services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.get(organization=county.east, text="每季度开展一次专题学习")
    with pytest.raises(ValidationError):
        services.item_complete(item=item, by=people.secretary, version=item.version, note="  ")
    with pytest.raises(PermissionDenied):
        services.item_complete(item=item, by=people.reviewer, version=item.version, note="已学习")
    services.item_complete(item=item, by=people.secretary, version=item.version, note="四个季度均已学习")
    item.refresh_from_db()
    assert item.status == "done" and item.completed_by == people.secretary


def test_two_people_completing_at_once_cannot_both_win(county, template, people, make_user):
    services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.get(organization=county.east, text="按期完成支部换届")
    seen = item.version
    services.item_complete(item=item, by=people.secretary, version=seen, note="已换届")
    with pytest.raises(ValidationError):
        services.item_complete(item=item, by=people.admin, version=seen, note="我也完成了")
    item.refresh_from_db()
    assert item.evidence_note == "已换届"


def test_overdue_is_derived_from_the_beijing_date(county, template):
    services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.get(organization=county.east, text="每季度开展一次专题学习")  # due 31 March
    assert not item.is_overdue(date(2026, 3, 31))
    assert item.is_overdue(date(2026, 4, 1))
    counts = selectors.three_list_counts(_user(county), county.root, date(2026, 4, 1))
    assert counts["duties"]["overdue"] == 2  # 东村 and 南村 both missed 31 March


def _user(county):
    from django.contrib.auth import get_user_model

    from branches.services import role_assign

    user = get_user_model().objects.create_user("county_reviewer")
    role_assign(user=user, organization=county.root, role="reviewer", by=system())
    return user


def test_a_template_item_due_outside_the_templates_year_is_refused(template):
    from django.core.exceptions import ValidationError as Invalid

    item = TemplateItem(template=template, area="ideological", text="跨年事项", due_on=date(2027, 1, 10))
    with pytest.raises(Invalid) as error:
        item.full_clean()
    assert "2026" in str(error.value.message_dict["due_on"])


def test_overdue_turns_at_midnight_in_beijing_not_in_utc(county, template):
    from datetime import UTC, datetime

    from django.utils import timezone

    services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.filter(text="每季度开展一次专题学习").first()  # due 31 March
    late_utc_evening = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 March in Beijing
    after_midnight = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 April in Beijing, still March in UTC
    assert not item.is_overdue(timezone.localdate(late_utc_evening))
    assert item.is_overdue(timezone.localdate(after_midnight))
