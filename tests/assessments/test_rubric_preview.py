"""Previewing a rubric (a draft too) on one organization: the admin of a root finds an organization of their
subtree, picks a period, and sees what every indicator would score with its "why" — the scoring engine run for
that organization alone, nothing written. Organizations outside the admin's subtree answer 404.

The tree and the rubric are those of tests/assessments/test_scoring.py (甲村 … 丙村 under 东镇党委), the rubric
kept as a draft. 甲村 over 2026, read to 2027-01-10 (every month over): 支委会 11 of 12 months (missing 2026-05)
→ 9.17; attendance 90% → 10; duties 3 of 4 on time → 7.50; one finding open past its deadline → 8;
组织建设 34.67; 业务工作 (manual) and the bonus count 0 outside a round; total 34.67 → 差.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments import scoring
from assessments.models import Assessment, AssessmentRound, Indicator, Rubric, RubricState, Score
from branches.models import AuditEntry, OrganizationKind, Role, Sector
from tests.assessments.test_scoring import make_rubric, organization, tree  # noqa: F401 (the fixture)

TODAY = date(2027, 1, 10)


@pytest.fixture
def draft(tree):  # noqa: F811
    rubric = make_rubric()
    Rubric.objects.filter(pk=rubric.pk).update(state=RubricState.DRAFT)
    rubric.refresh_from_db()
    return rubric


@pytest.fixture
def admin(tree, make_user):  # noqa: F811
    return make_user("root_admin", Role.ADMIN, tree.root)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    return TODAY


def preview_url(rubric, **query):
    from urllib.parse import urlencode

    return reverse("assessments:rubric_preview", args=[rubric.pk]) + ("?" + urlencode(query) if query else "")


def written():
    return (
        AssessmentRound.objects.count(),
        Assessment.objects.count(),
        Score.objects.count(),
        AuditEntry.objects.count(),
    )


def test_a_draft_previews_on_one_organization_with_the_why_of_each_indicator_and_writes_nothing(
    client,
    tree,  # noqa: F811
    draft,
    admin,
    today,
):
    client.force_login(admin)
    before = written()
    with CaptureQueriesContext(connection) as queries:
        page = client.get(preview_url(draft, organization=tree.a.pk, year=2026, period="year"))
    assert page.status_code == 200
    text = page.content.decode()
    assert written() == before
    changes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert changes == []
    lines = page.context["preview"].lines
    points = {line.row.node["code"]: line.points for line in lines}
    assert {code: scoring.shown(points[code]) for code in ("committee", "attendance", "duties", "findings", "org")} == {
        "committee": "9.17",
        "attendance": "10.00",
        "duties": "7.50",
        "findings": "8.00",
        "org": "34.67",
    }
    assert points["work"] == 0 and points["honor"] == 0
    assert scoring.shown(page.context["preview"].total) == "34.67" and page.context["preview"].band == "差"
    assert "甲村支部" in text and "缺 2026-05" in text and "得 9.17 分" in text
    assert "正式考核中由考核组评分，预览计 0 分" in text  # 业务工作, a manual indicator
    assert "考核期 2026-01-01 至 2026-12-31，台账统计截至 2027-01-10" in text


def test_the_preview_reads_only_the_months_over_by_the_day_it_is_made(client, tree, draft, admin, monkeypatch):  # noqa: F811
    """On 2026-06-15 the months over are January to May: 甲村 met 4 of 5 (missing 2026-05) → 8.00."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2026, 6, 15))
    client.force_login(admin)
    page = client.get(preview_url(draft, organization=tree.a.pk, year=2026, period="h1"))
    committee = next(line for line in page.context["preview"].lines if line.row.node["code"] == "committee")
    assert scoring.shown(committee.points) == "8.00"
    assert "台账统计截至 2026-06-15" in page.content.decode()


def test_the_engine_previews_many_organizations_in_the_same_number_of_queries(tree, draft):  # noqa: F811
    definitions = scoring.definitions_of(draft)
    with CaptureQueriesContext(connection) as one:
        scoring.preview(
            definitions, [tree.a.pk], period_start=date(2026, 1, 1), period_end=date(2026, 12, 31), through=TODAY
        )
    with CaptureQueriesContext(connection) as three:
        found = scoring.preview(
            definitions,
            [tree.a.pk, tree.b.pk, tree.c.pk],
            period_start=date(2026, 1, 1),
            period_end=date(2026, 12, 31),
            through=TODAY,
        )
    assert len(three) == len(one)
    # 乙: 10 + 6 + 10 (no duty due: full) + 10 = 36; 丙: 5 + 0 + 0 + 4 = 9.
    assert {pk: scoring.shown(p.total) for pk, p in found.items()} == {
        tree.a.pk: "34.67",
        tree.b.pk: "36.00",
        tree.c.pk: "9.00",
    }


def test_search_offers_the_admins_subtree_only_and_another_tree_answers_404(client, tree, draft, admin, today):  # noqa: F811
    elsewhere = organization(None, OrganizationKind.COMMITTEE, "N", "中共邻县委员会", Sector.ORGAN)
    village = organization(elsewhere, OrganizationKind.BRANCH, "N-1", "邻村支部")
    client.force_login(admin)
    page = client.get(preview_url(draft, q="村", year=2026, period="year"))
    found = [org.name for org in page.context["found"]]
    assert found == ["甲村支部", "乙村支部", "丙村支部"]
    assert "邻村支部" not in page.content.decode()
    before = written()
    assert client.get(preview_url(draft, organization=village.pk, year=2026, period="year")).status_code == 404
    assert client.get(preview_url(draft, organization="x", year=2026, period="year")).status_code == 404
    assert written()[:3] == before[:3]


def test_only_admins_of_a_root_preview(client, tree, draft, make_user, today):  # noqa: F811
    for name, role, where in (
        ("town_admin", Role.ADMIN, tree.town),
        ("reviewer", Role.REVIEWER, tree.root),
        ("assessor", Role.ASSESSOR, tree.root),
        ("secretary", Role.SECRETARY, tree.a),
    ):
        client.force_login(make_user(name, role, where))
        assert client.get(preview_url(draft, organization=tree.a.pk, year=2026, period="year")).status_code == 404


def test_empty_state_no_match_and_bad_input_are_said_in_chinese(client, tree, draft, admin, today):  # noqa: F811
    client.force_login(admin)
    text = client.get(preview_url(draft)).content.decode()
    assert "按名称或代码查找您管理的组织" in text and "data-preview>" not in text
    text = client.get(preview_url(draft, q="不存在", year=2026, period="year")).content.decode()
    assert "您管理的组织中没有与“不存在”相符的组织。" in text
    page = client.get(preview_url(draft, organization=tree.a.pk, year="明年", period="year"))
    assert page.status_code == 200 and page.context["preview"] is None and "年：输入整数。" in page.content.decode()
    page = client.get(preview_url(draft, organization=tree.a.pk, year=2028, period="year"))
    assert page.context["preview"] is None and "考核期尚未开始，还没有可计分的台账。" in page.content.decode()


def test_a_rubric_that_cannot_be_scored_says_what_to_correct(client, tree, draft, admin, today):  # noqa: F811
    Indicator.objects.create(
        rubric=draft, code="blank", title="未定", kind="computed", max_points=Decimal(0), position=9
    )
    client.force_login(admin)
    page = client.get(preview_url(draft, organization=tree.a.pk, year=2026, period="year"))
    text = page.content.decode()
    assert "此细则还不能计分" in text and "blank" in text
    assert "data-preview>" not in text


def test_an_organization_the_rubric_would_not_assess_is_flagged(client, tree, draft, admin, today):  # noqa: F811
    client.force_login(admin)
    text = client.get(preview_url(draft, organization=tree.town.pk, year=2026, period="year")).content.decode()
    assert "按此细则开展考核时不会纳入该组织" in text and "不在细则适用层级内" in text
